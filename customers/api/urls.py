from django.urls import path

from customers.api.views import CustomerViewSet, OrganizationView

customer_list = CustomerViewSet.as_view({"get": "list", "post": "create"})
customer_detail = CustomerViewSet.as_view({"get": "retrieve", "delete": "destroy"})

urlpatterns = [
    path(
        "organizations", OrganizationView.as_view({"get": "retrieve", "put": "update"}), name="organization"
    ),
    path("customers", customer_list, name="customer-list"),
    path("customers/<str:external_customer_id>", customer_detail, name="customer-detail"),
]
