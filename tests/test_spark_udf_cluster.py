"""spark_udf on a cluster master: the model is shipped to executors in their own JVMs, and with
env_manager="uv" each executor scores in the model's restored environment.

The master is ``local-cluster[2,1,1024]``: a real standalone Master and two Workers inside the
driver's JVM, each Worker launching its executor as a separate JVM (Spark's own way to test cluster
behaviour on one machine). The model pins a scikit-learn other than this environment's and
answers with the version it runs under (tests/test_environments.py), so every answer says where it
was computed. Installers read only the local wheelhouse tests/run.sh builds: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import sklearn

import mlnb.pyfunc
from tests._spark import QUICK_JVM, local_session, stop_session
from tests._tiers import WHEELHOUSE
from tests.conftest import WAIT
from tests.test_environments import PINNED, make_model

pytestmark = [pytest.mark.java, pytest.mark.install, pytest.mark.slow]

MASTER = "local-cluster[2,1,1024]"
#: scored in four partitions, to spread over both executors
FRAME = pd.DataFrame({"x": [0.9, 0.1, 0.2, 0.8] * 3})
EXPECTED = [f"{PINNED}:{int(x > 0.5)}" for x in FRAME["x"]]


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> dict[str, Path]:
    """The driver's environment cache, and the one the executors are told to use."""
    return {"driver": tmp_path_factory.mktemp("driver-cache"), "executors": tmp_path_factory.mktemp("executor-cache")}


@pytest.fixture(scope="module")
def spark(tmp_path_factory, caches):
    """A local-cluster session. SPARK_HOME is a folder of links to the pip package's ``bin``, ``jars``
    and ``python``, so the Workers' scratch space (``$SPARK_HOME/work``) stays in a temporary folder."""
    import pyspark

    package = Path(pyspark.__file__).parent
    home = tmp_path_factory.mktemp("spark-home")
    for name in ("bin", "jars", "python"):
        (home / name).symlink_to(package / name)
    offline = {"MLNB_ENV_NO_INDEX": "1", "MLNB_ENV_FIND_LINKS": str(WHEELHOUSE)}
    executor_env = {**offline, "MLNB_ENV_CACHE": str(caches["executors"])}
    conf = {f"spark.executorEnv.{name}": value for name, value in executor_env.items()}
    conf.update({"spark.executor.memory": "768m", "spark.executor.extraJavaOptions": QUICK_JVM})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_HOME", str(home))
        for name, value in {**offline, "MLNB_ENV_CACHE": str(caches["driver"])}.items():
            patch.setenv(name, value)
        session = local_session(MASTER, shuffle_partitions=2, conf=conf)
        try:
            assert _until(lambda: len(_executor_jvms()) == 2)  # each Worker has launched its executor
            yield session
        finally:
            stop_session(session)
    assert _until(lambda: _executor_jvms() == [])  # the Workers took their executors down with them


def _until(condition) -> bool:
    """Poll ``condition`` until it holds (True) or WAIT seconds pass (False)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _proc_cmdline(pid: int) -> list[str]:
    try:
        return [p.decode(errors="replace") for p in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _executor_jvms() -> list[int]:
    """Executor JVMs started by this process's Workers."""
    return [pid for pid in _pids() if "org.apache.spark.executor.CoarseGrainedExecutorBackend" in _proc_cmdline(pid)
            and _descends_from(pid, os.getpid())]


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        pid = _parent(pid)
    return False


def _servers_of(name: str) -> dict[int, list[str]]:
    """The running `mlnb models serve` processes whose model folder is named ``name``: pid -> command line."""
    found = {}
    for pid in _pids():
        model = _served_model(_proc_cmdline(pid))
        if model is not None and name in model:
            found[pid] = _proc_cmdline(pid)
    return found


def _served_model(cmdline: list[str]) -> str | None:
    """The ``-m`` of a ``models serve`` command line, or None for any other process."""
    if "serve" not in cmdline or "-m" not in cmdline[cmdline.index("serve"):]:
        return None
    rest = cmdline[cmdline.index("serve"):]
    return rest[rest.index("-m") + 1]


def _udf(spark, model: Path):
    return mlnb.pyfunc.spark_udf(spark, str(model), result_type="string", env_manager="uv")


def _scored(spark, udf) -> list[str]:
    """``FRAME`` scored by ``udf`` in four partitions (so both executors get tasks), in row order."""
    from pyspark.sql.functions import struct

    frame = spark.createDataFrame(FRAME.assign(id=range(len(FRAME)))).repartition(4)
    return [r.p for r in frame.select("id", udf(struct("x")).alias("p")).orderBy("id").collect()]


def _local(model: Path, tmp_path: Path) -> list[str]:
    """The same model scored here, by mlnb's batch predict in the restored environment."""
    from mlnb.serving.offline import predict

    out = tmp_path / "local.json"
    predict(str(model), FRAME, output_path=out, env_manager="uv")
    return json.loads(out.read_text())["predictions"]


def _env_key(cache: Path) -> str:
    [entry] = (cache / "envs").iterdir()
    return entry.name


def test_executors_score_the_shipped_model_in_the_drivers_restored_environment(spark, caches, tmp_path):
    model = make_model(tmp_path / "shared-model", f"scikit-learn=={PINNED}")

    scored = _scored(spark, _udf(spark, model))
    assert scored == _local(model, tmp_path) == EXPECTED  # every row scored under the pinned scikit-learn

    servers, executors = _servers_of(model.name), _executor_jvms()
    assert 1 <= len(servers) <= 2  # one per executor's Python worker, kept for its next batches
    env_root = caches["driver"] / "envs" / _env_key(caches["driver"])
    for pid, cmdline in servers.items():
        assert any(_descends_from(pid, jvm) for jvm in executors)  # started in an executor, not the driver
        assert Path(cmdline[0]).parent.parent == env_root  # the driver's environment, shared on this machine
        assert _served_model(cmdline) != str(model)  # the shipped copy, unpacked in the executor's SparkFiles
    assert not (caches["executors"] / "envs").exists()  # nothing built again


def test_executors_that_cannot_see_the_drivers_environment_build_their_own(spark, caches, tmp_path):
    model = make_model(tmp_path / "rebuilt-model", f"scikit-learn=={PINNED}")
    udf = _udf(spark, model)  # the driver prepares the environment (cached already) ...
    key = _env_key(caches["driver"])
    shutil.rmtree(caches["driver"] / "envs" / key)  # ... which the executors then cannot see, as on another machine

    assert _scored(spark, udf) == EXPECTED

    built = caches["executors"] / "envs" / key  # the same cache key, in the executors' own cache
    assert [p.name for p in (caches["executors"] / "envs").iterdir()] == [key]  # one build (a second executor waits)
    assert (built / "mlnb-environment.json").is_file()
    servers, executors = _servers_of(model.name), _executor_jvms()
    assert 1 <= len(servers) <= 2
    for pid, cmdline in servers.items():
        assert any(_descends_from(pid, jvm) for jvm in executors)
        assert Path(cmdline[0]).parent.parent == built


def test_with_env_manager_local_executors_score_the_shipped_model_in_their_own_python(spark, tmp_path):
    model = make_model(tmp_path / "local-model")  # no pinned requirement: this environment's scikit-learn
    udf = mlnb.pyfunc.spark_udf(spark, str(model), result_type="string")
    here = list(mlnb.pyfunc.load_model(str(model)).predict(FRAME))
    assert _scored(spark, udf) == here == [f"{sklearn.__version__}:{int(x > 0.5)}" for x in FRAME["x"]]
