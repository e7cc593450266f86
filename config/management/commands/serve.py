"""manage.py serve: the whole service in one command (API + admin, a Celery worker, celery-beat).

Uses the embedded PostgreSQL under .data/ unless DATABASE_URL is set, migrates, makes sure the demo
organization exists and prints its credentials, then supervises the three processes until Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run API + admin (gunicorn), a Celery worker and celery-beat together; Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))

    def handle(self, *args, port, host, web_workers, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("ensure_demo")

        env = dict(os.environ)
        # Children share this process's database (its handle keeps the embedded server up) and broker.
        env["DATABASE_URL"] = settings.DATABASE_URL
        env.setdefault("CELERY_BROKER_URL", settings.CELERY_BROKER_URL)
        if settings.CELERY_BROKER_URL == "filesystem://":
            for key in ("data_folder_in", "processed_folder", "control_folder"):
                os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
        python = sys.executable
        commands = {
            "web": [python, "-m", "gunicorn", "config.wsgi", "--bind", f"{host}:{port}",
                    "--workers", str(web_workers), "--access-logfile", "-", "--graceful-timeout", "10"],
            "worker": [python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                       "--concurrency", "2", "--without-gossip", "--without-mingle"],
            "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
        }  # fmt: skip
        processes: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, command in commands.items():
            # Own session: a terminal Ctrl-C reaches only this supervisor, which stops children in order.
            processes[name] = subprocess.Popen(command, env=env, start_new_session=True)
        self.stdout.write(self.style.SUCCESS(f"Tollbooth is up: http://{host}:{port}/api/v1  admin: /admin/"))

        exit_code = 0
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with {process.returncode}; stopping everything")
                    exit_code, stopping = 1, True
            time.sleep(0.5)

        self.stdout.write("Stopping…")
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)
