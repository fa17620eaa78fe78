"""A service process: engine, producer, outbox relay and consumer owned by the FastAPI lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine
from uvicorn.supervisors import Multiprocess

from handoff.config_file import ConfigError
from handoff.db import UnitOfWorkFactory, asyncpg_dsn, create_engine, database_answers
from handoff.http import health
from handoff.http.auth import KeyRing
from handoff.http.limits import BodyLimit
from handoff.http.params import clean_parameters
from handoff.http.problem import install_problem_handlers
from handoff.logs import configure_logging
from handoff.messaging.consumer import BatchConsumer, Handler
from handoff.messaging.outbox import OutboxRelay
from handoff.messaging.producer import Producer, make_producer
from handoff.messaging.retention import Pruner, Retention, inbox_retention
from handoff.service import ServiceSpec
from handoff.settings import HandoffSettings, load_settings

SettingsT = TypeVar("SettingsT", bound=HandoffSettings)
DepsT = TypeVar("DepsT")

log = structlog.get_logger("handoff.runtime")


@dataclass(frozen=True)
class Consumes(Generic[DepsT]):
    """The topics a service consumes, each with its event adapter, and the batch handler,
    built from the service's typed dependencies."""

    adapters: Mapping[str, TypeAdapter[Any]]
    handler: Callable[[DepsT], Handler[Any]]


@dataclass
class Runtime:
    """What every running service holds; `wire` builds the service's typed Deps from it."""

    spec: ServiceSpec
    settings: HandoffSettings
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    producer: Producer
    relay: OutboxRelay
    consumer: BatchConsumer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Tables pruned by age in the background; setup() may add the service's own.
    retentions: list[Retention] = field(default_factory=list)

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(asyncio.create_task(_supervised(name, work), name=name))


async def _supervised(name: str, work: Callable[[], Awaitable[None]]) -> None:
    """Restart a background loop that fails unexpectedly, with backoff; never hide the error."""
    delay = 0.5
    while True:
        try:
            await work()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("runtime.task.failed", task=name, restart_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def deps_getter(cls: type[DepsT]) -> Callable[[Request], Awaitable[DepsT]]:
    """The FastAPI dependency that hands a route its service's Deps, typed:
    `Deps = Annotated[ScoringDeps, Depends(deps_getter(ScoringDeps))]`. Async although it
    never awaits, so FastAPI calls it on the loop, not in its thread pool."""

    async def service_deps(request: Request) -> DepsT:
        deps = getattr(request.app.state, "deps", None)
        if not isinstance(deps, cls):  # a wiring mistake, caught by the first test of a route
            raise RuntimeError(f"the app holds no {cls.__name__}; is its lifespan running?")
        return deps

    return service_deps


def build_app(
    spec: ServiceSpec,
    settings: HandoffSettings,
    *,
    routers: Sequence[APIRouter],
    wire: Callable[[Runtime], Awaitable[DepsT]],
    consumes: Consumes[DepsT] | None = None,
    description: str = "",
    app_class: type[FastAPI] = FastAPI,
) -> FastAPI:
    """The service's FastAPI app; the lifespan starts and stops every resource.

    `app_class` lets a service put a route in front of FastAPI's stack (a FastAPI subclass);
    `wire` builds the service's frozen Deps once (it may spawn background work on the Runtime
    and add retentions); routes reach them through `deps_getter`, the consumer's handler is
    built from them.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        kafka = make_producer(settings, client_id=spec.group_id)
        await kafka.start()
        producer = Producer(kafka)
        relay = OutboxRelay(
            asyncpg_dsn(settings.database_url),
            spec.schema,
            producer,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
            retention_seconds=settings.outbox_retention_seconds,
        )
        rt = Runtime(spec, settings, engine, UnitOfWorkFactory(engine), producer, relay)
        app.state.runtime = rt
        app.state.keyring = KeyRing(settings.api_keys)

        async def db_ready() -> bool:
            return await database_answers(engine)

        async def broker_ready() -> bool:
            return await producer.answers()

        app.state.readiness = {"database": db_ready, "broker": broker_ready}
        try:
            deps = await wire(rt)
            app.state.deps = deps
            rt.spawn("outbox-relay", relay.run)
            if consumes is not None:
                rt.retentions.insert(0, inbox_retention(spec.schema, settings.inbox_retention))
            if rt.retentions:
                pruner = Pruner(
                    engine,
                    rt.retentions,
                    every_seconds=settings.retention_every_seconds,
                    batch=settings.retention_batch,
                )
                rt.spawn("retention", pruner.run)
            if consumes is not None:
                rt.consumer = BatchConsumer(
                    name=spec.group_id,
                    schema=spec.schema,
                    adapters=consumes.adapters,
                    handler=consumes.handler(deps),
                    uow_factory=rt.uow,
                    producer=producer,
                    settings=settings,
                )
                rt.spawn("consumer", rt.consumer.run)
                consumer = rt.consumer

                async def consumer_ready() -> bool:
                    return consumer.holds_assignment()

                app.state.readiness["consumer"] = consumer_ready
            log.info("service.started", service=spec.name)
            yield
        finally:
            for task in rt.tasks:
                task.cancel()
            await asyncio.gather(*rt.tasks, return_exceptions=True)
            await kafka.stop()
            await engine.dispose()
            log.info("service.stopped", service=spec.name)

    app = app_class(
        title=f"handoff {spec.name}",
        description=description,
        version="1",
        lifespan=lifespan,
        dependencies=[Depends(clean_parameters)],  # NUL or overlong path/query values: 422
    )
    app.state.settings = settings  # routes' limits, also before the lifespan has run
    install_problem_handlers(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        read_timeout=settings.body_read_timeout_seconds,
    )
    app.include_router(health.router)
    for router in routers:
        app.include_router(router)
    return app


# Allocations between young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect less often: a consumer holds a batch of thousands of parsed events at once, and
    with the default threshold the collector ran dozens of times per batch, each time walking
    every event still held (the insight bench spent 2.3 s of 5.9 s parsing, 0.8 s with this).
    Objects from start-up are frozen out of the collector's walks altogether."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int | None:
    """The cores a container's CPU limit grants ("200000 100000" is 2; "max" is no limit):
    a pod limited to 2 cores on a 64-core node must not start 64 workers."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def worker_count(setting: int, cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Worker processes for a setting where 0 means one per core this process may run on
    (the cores it is pinned to, and no more than a container's CPU limit)."""
    if setting > 0:
        return setting
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpus(cpu_max)
    return max(1, min(cores, limit) if limit is not None else cores)


_SUPERVISOR_PID = "HANDOFF_SUPERVISOR_PID"


def _stop_with_supervisor() -> None:
    """A worker process asks the kernel for SIGTERM when its supervisor dies, even by SIGKILL,
    so no worker is left holding the port (Linux only; elsewhere nothing is done)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return
    prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.environ.get(_SUPERVISOR_PID, str(os.getppid())) != str(os.getppid()):
        # the supervisor died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def worker_app(
    spec: ServiceSpec, settings_cls: type[SettingsT], create_app: Callable[[SettingsT], FastAPI]
) -> FastAPI:
    """The app of one worker process (run_service with `factory`): the same settings, logging
    and collector tuning as a single process; the configuration was already checked by the
    supervisor before it started any worker."""
    _stop_with_supervisor()
    settings = load_settings(settings_cls)
    configure_logging(settings.log_format, settings.log_level, service=spec.name)
    app = create_app(settings)
    tune_gc()
    return app


def run_service(
    spec: ServiceSpec,
    settings_cls: type[SettingsT],
    create_app: Callable[[SettingsT], FastAPI],
    *,
    factory: str | None = None,
) -> None:
    """The body of `python -m handoff_<service>`: a bad setting or config file stops it in one line.

    By default one process on the asyncio loop and the h11 parser, as always. A service that
    passes `factory` ("module:function" returning worker_app(...)) is served by uvicorn's fast
    stack (uvloop, httptools) and by `http_workers` processes sharing the port (0: one per core),
    each building its own app, engine and producer from the same environment.
    """
    settings = load_settings(settings_cls)
    configure_logging(settings.log_format, settings.log_level, service=spec.name)
    try:
        app = create_app(settings)  # also with workers: a bad config stops here, before any fork
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    port: int = getattr(settings, "http_port", spec.default_port)
    common: dict[str, Any] = {
        "host": settings.http_host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 5,
    }
    if factory is None:
        tune_gc()
        config = uvicorn.Config(app, loop="asyncio", http="h11", **common)
        uvicorn.Server(config).run()
        return
    workers = worker_count(getattr(settings, "http_workers", 1))
    fast: dict[str, Any] = {"loop": "uvloop", "http": "httptools", **common}
    if workers == 1:
        tune_gc()
        uvicorn.Server(uvicorn.Config(app, **fast)).run()
        return
    del app  # each worker builds its own
    log.info("service.workers", service=spec.name, workers=workers)
    config = uvicorn.Config(factory, factory=True, workers=workers, **fast)
    os.environ[_SUPERVISOR_PID] = str(os.getpid())  # the workers inherit it
    own_metrics = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    if own_metrics:
        # Set before any worker imports prometheus_client: the workers then keep their values
        # in files there, and /metrics sums them, so a counter does not depend on which
        # worker takes the scrape (nor go back when another one does).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"handoff-{spec.name}-")
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        if own_metrics:
            shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
