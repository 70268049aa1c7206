"""mlnb.statsmodels beyond the conformance suite (tests/conformance.py runs CHECKS on its cases):
the pickle policy, bad input, time-series models and logging to a run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlnb
from _models import regression
from mlnb.errors import InvalidParameterError, ModelFormatError, SchemaError, UnsafeModelError


@pytest.fixture
def ols():
    import statsmodels.api as sm

    X, y = regression()
    X = sm.add_constant(X)
    return sm.OLS(y, X).fit(), X


def test_statsmodels_results_are_pickles_and_follow_the_pickle_policy(tmp_path, ols):
    results, X = ols
    mlnb.statsmodels.save_model(results, tmp_path / "m")
    with pytest.raises(UnsafeModelError, match="statsmodels results are pickled.*allow_pickle=True"):
        mlnb.statsmodels.load_model(tmp_path / "m", allow_pickle=False)
    with pytest.raises(UnsafeModelError, match="allow_pickle=True"):
        mlnb.pyfunc.load_model(tmp_path / "m", allow_pickle=False)
    np.testing.assert_allclose(mlnb.statsmodels.load_model(tmp_path / "m", allow_pickle=True).predict(X),
                               results.predict(X))


def test_an_unfitted_model_or_another_library_is_refused_clearly(tmp_path, ols):
    import statsmodels.api as sm
    from sklearn.linear_model import LinearRegression

    results, X = ols
    with pytest.raises(InvalidParameterError, match="fitted statsmodels results.*got OLS. Fit it first"):
        mlnb.statsmodels.save_model(sm.OLS(results.model.endog, X), tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="got LinearRegression"):
        mlnb.statsmodels.save_model(LinearRegression().fit(X, results.model.endog), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_damaged_file_is_a_format_error(tmp_path, ols):
    mlnb.statsmodels.save_model(ols[0], tmp_path / "m")
    (tmp_path / "m" / "model.statsmodels").write_bytes(b"\x80\x05not a pickle")
    with pytest.raises(ModelFormatError, match="statsmodels cannot read"):
        mlnb.statsmodels.load_model(tmp_path / "m")


def test_remove_data_drops_the_training_data_as_mlflow(tmp_path, ols):
    results, X = ols
    mlnb.statsmodels.save_model(results, tmp_path / "full")
    mlnb.statsmodels.save_model(results, tmp_path / "small", remove_data=True)
    full, small = (tmp_path / "full" / "model.statsmodels"), (tmp_path / "small" / "model.statsmodels")
    assert small.stat().st_size < full.stat().st_size
    np.testing.assert_allclose(mlnb.statsmodels.load_model(tmp_path / "small").predict(X), results.predict(X))


def test_a_time_series_model_predicts_from_start_and_end_both_ways(tmp_path):
    import mlflow.pyfunc
    from statsmodels.tsa.arima.model import ARIMA

    series = pd.Series(np.sin(np.arange(60) / 4.0) + np.random.default_rng(0).normal(scale=0.1, size=60))
    results = ARIMA(series, order=(2, 0, 0)).fit()
    mlnb.statsmodels.save_model(results, tmp_path / "arima")
    window = pd.DataFrame({"start": [60], "end": [64]})
    ours = mlnb.pyfunc.load_model(tmp_path / "arima").predict(window)
    np.testing.assert_allclose(ours, results.predict(start=60, end=64))
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "arima")).predict(window), ours)
    with pytest.raises(SchemaError, match="one row with columns 'start' and 'end'"):
        mlnb.pyfunc.load_model(tmp_path / "arima").predict(pd.DataFrame({"start": [1, 2], "end": [3, 4]}))


def test_log_model_logs_statsmodels_results_to_the_run(ols):
    results, X = ols
    with mlnb.start_run():
        info = mlnb.statsmodels.log_model(results, name="ols", remove_data=True)
    assert set(info.flavors) == {"statsmodels", "python_function"}
    np.testing.assert_allclose(mlnb.pyfunc.load_model(info.model_uri).predict(X), results.predict(X))
