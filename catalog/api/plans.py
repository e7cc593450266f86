"""Plan endpoints (/plans, /plans/{code}/charges, /plans/{code}/fixed_charges): parse, call a service, serialize."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from billing.models import Subscription, SubscriptionStatus
from billing.services.plan_deletion import terminate_plan_subscriptions
from catalog.api.plan_serializers import (
    ChargeCreateInput,
    ChargeInput,
    ChargeSerializer,
    FixedChargeCreateInput,
    FixedChargeInput,
    FixedChargeSerializer,
    PlanInput,
    PlanSerializer,
    PlanUpdateInput,
)
from catalog.models import Plan
from catalog.selectors import plans as selectors
from catalog.services import plans as services
from config.api.base import OrganizationViewSet, envelope, validated

PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("per_page", int)]


def plan_counts(plans: Iterable[Plan]) -> dict:
    """Lago's plan counters, override children included: active subscriptions and their distinct customers.
    (No invoice model yet: draft_invoices_count stays 0.)"""
    ids = [plan.id for plan in plans]
    if not ids:
        return {}
    rows = (
        Subscription.objects.filter(status=SubscriptionStatus.ACTIVE)
        .filter(Q(plan_id__in=ids) | Q(plan__parent_id__in=ids))
        .values_list("plan_id", "plan__parent_id", "customer_id")
    )
    subscriptions: dict = defaultdict(int)
    customers: dict = defaultdict(set)
    for plan_id, parent_id, customer_id in rows:
        root = plan_id if plan_id in ids else parent_id
        subscriptions[root] += 1
        customers[root].add(customer_id)
    return {
        plan_id: {
            "active_subscriptions_count": subscriptions[plan_id],
            "customers_count": len(customers[plan_id]),
            "draft_invoices_count": 0,
        }
        for plan_id in ids
    }


class PlanViewSet(OrganizationViewSet):
    root, root_plural = "plan", "plans"
    output_serializer = PlanSerializer

    def render_plan(self, plan: Plan) -> Response:
        return self.render_one(plan, context={"counts": plan_counts([plan])})

    @extend_schema(
        operation_id="createPlan",
        request=envelope("plan", PlanInput),
        responses=envelope("plan", PlanSerializer),
    )
    def create(self, request):
        data = validated(PlanInput, self.payload())
        plan = services.create_plan(organization=self.organization, data=data)
        return self.render_plan(selectors.plan_with_details(plan))

    @extend_schema(
        operation_id="findAllPlans",
        parameters=PAGE_PARAMETERS,
        responses=envelope("plans", PlanSerializer, many=True, paginated=True),
    )
    def list(self, request):
        plans, meta = self.pagination.paginate(selectors.plan_list(self.organization), request)
        data = PlanSerializer(plans, many=True, context={"counts": plan_counts(plans)}).data
        return Response({self.root_plural: data, "meta": meta})

    @extend_schema(operation_id="findPlan", responses=envelope("plan", PlanSerializer))
    def retrieve(self, request, code: str):
        return self.render_plan(selectors.plan_by_code(self.organization, code))

    @extend_schema(
        operation_id="updatePlan",
        request=envelope("plan", PlanUpdateInput),
        responses=envelope("plan", PlanSerializer),
    )
    def update(self, request, code: str):
        plan = selectors.plan_by_code(self.organization, code)
        data = validated(PlanUpdateInput, self.payload())
        plan = services.update_plan(plan=plan, data=data)
        return self.render_plan(selectors.plan_with_details(plan))

    @extend_schema(operation_id="destroyPlan", responses=envelope("plan", PlanSerializer))
    def destroy(self, request, code: str):
        with transaction.atomic():
            plan = selectors.plan_by_code(self.organization, code)
            terminate_plan_subscriptions(plan)
            plan = services.delete_plan(plan=plan)
        return self.render_plan(plan)


class PlanChargeViewSet(OrganizationViewSet):
    root, root_plural = "charge", "charges"
    output_serializer = ChargeSerializer

    def _plan(self, code: str) -> Plan:
        return selectors.plan_by_code(self.organization, code)

    @extend_schema(
        operation_id="createPlanCharge",
        request=envelope("charge", ChargeCreateInput),
        responses=envelope("charge", ChargeSerializer),
    )
    def create(self, request, code: str):
        plan = self._plan(code)
        charge = services.create_charge(plan=plan, data=validated(ChargeCreateInput, self.payload()))
        return self.render_one(selectors.plan_charges(plan).get(pk=charge.pk))

    @extend_schema(
        operation_id="findAllPlanCharges",
        parameters=PAGE_PARAMETERS,
        responses=envelope("charges", ChargeSerializer, many=True, paginated=True),
    )
    def list(self, request, code: str):
        return self.render_page(selectors.plan_charges(self._plan(code)))

    @extend_schema(operation_id="findPlanCharge", responses=envelope("charge", ChargeSerializer))
    def retrieve(self, request, code: str, charge_code: str):
        return self.render_one(selectors.charge_by_code(self._plan(code), charge_code))

    @extend_schema(
        operation_id="updatePlanCharge",
        request=envelope("charge", ChargeInput),
        responses=envelope("charge", ChargeSerializer),
    )
    def update(self, request, code: str, charge_code: str):
        plan = self._plan(code)
        charge = selectors.charge_by_code(plan, charge_code)
        charge = services.update_charge(charge=charge, data=validated(ChargeInput, self.payload()))
        return self.render_one(selectors.plan_charges(plan).get(pk=charge.pk))

    @extend_schema(
        operation_id="destroyPlanCharge", request=None, responses=envelope("charge", ChargeSerializer)
    )
    def destroy(self, request, code: str, charge_code: str):
        charge = selectors.charge_by_code(self._plan(code), charge_code)
        return self.render_one(services.delete_charge(charge=charge))


class PlanFixedChargeViewSet(OrganizationViewSet):
    root, root_plural = "fixed_charge", "fixed_charges"
    output_serializer = FixedChargeSerializer

    def _plan(self, code: str) -> Plan:
        return selectors.plan_by_code(self.organization, code)

    @extend_schema(
        operation_id="createPlanFixedCharge",
        request=envelope("fixed_charge", FixedChargeCreateInput),
        responses=envelope("fixed_charge", FixedChargeSerializer),
    )
    def create(self, request, code: str):
        plan = self._plan(code)
        data = validated(FixedChargeCreateInput, self.payload())
        fixed_charge = services.create_fixed_charge(plan=plan, data=data)
        return self.render_one(selectors.plan_fixed_charges(plan).get(pk=fixed_charge.pk))

    @extend_schema(
        operation_id="findAllPlanFixedCharges",
        parameters=PAGE_PARAMETERS,
        responses=envelope("fixed_charges", FixedChargeSerializer, many=True, paginated=True),
    )
    def list(self, request, code: str):
        return self.render_page(selectors.plan_fixed_charges(self._plan(code)))

    @extend_schema(
        operation_id="findPlanFixedCharge", responses=envelope("fixed_charge", FixedChargeSerializer)
    )
    def retrieve(self, request, code: str, fixed_charge_code: str):
        return self.render_one(selectors.fixed_charge_by_code(self._plan(code), fixed_charge_code))

    @extend_schema(
        operation_id="updatePlanFixedCharge",
        request=envelope("fixed_charge", FixedChargeInput),
        responses=envelope("fixed_charge", FixedChargeSerializer),
    )
    def update(self, request, code: str, fixed_charge_code: str):
        plan = self._plan(code)
        fixed_charge = selectors.fixed_charge_by_code(plan, fixed_charge_code)
        data = validated(FixedChargeInput, self.payload())
        fixed_charge = services.update_fixed_charge(fixed_charge=fixed_charge, data=data)
        return self.render_one(selectors.plan_fixed_charges(plan).get(pk=fixed_charge.pk))

    @extend_schema(
        operation_id="destroyPlanFixedCharge",
        request=None,
        responses=envelope("fixed_charge", FixedChargeSerializer),
    )
    def destroy(self, request, code: str, fixed_charge_code: str):
        fixed_charge = selectors.fixed_charge_by_code(self._plan(code), fixed_charge_code)
        return self.render_one(services.delete_fixed_charge(fixed_charge=fixed_charge))
