"""One local SparkSession for a test module, and a stop that ends its JVM (no JVM outlives the module)."""

from __future__ import annotations

#: a JVM tuned for short work on tiny data: the quick JIT tier, serial GC
QUICK_JVM = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"


def local_session(master: str = "local[1]", shuffle_partitions: int = 1, conf: dict[str, str] | None = None):
    """A SparkSession on ``master`` with Arrow on, no UI, no whole-stage code generation, plus ``conf``."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return (
        builder.master(master).appName("mlnb-tests")
        .config("spark.driver.memory", "512m").config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", QUICK_JVM)
        .config("spark.driver.host", "127.0.0.1").config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.codegen.wholeStage", "false").config("spark.sql.adaptive.enabled", "false")
        .config("spark.log.level", "ERROR").getOrCreate()
    )


def stop_session(session) -> None:
    """Stop ``session`` and its JVM, and forget the gateway so a later module can start a new one."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    session.stop()
    gateway.shutdown()
    gateway.proc.stdin.close()  # the JVM exits when its stdin closes
    gateway.proc.wait(timeout=60)
    SparkContext._gateway = SparkContext._jvm = None
    assert gateway.proc.poll() is not None


def active():
    """The running SparkSession (the one a module's ``module_session`` fixture started)."""
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def module_session(cache: dict | None = None):
    """An autouse, module-scoped fixture: one local SparkSession for the module, stopped (JVM and
    all) at its end, after ``cache`` (models fitted in that session) is cleared.

        spark = module_session(_FITTED)
    """
    import pytest

    @pytest.fixture(scope="module", autouse=True)
    def spark():
        session = local_session("local[1]")
        yield session
        if cache is not None:
            cache.clear()
        stop_session(session)

    return spark
