"""tfnet.serving.ModelServer answers TF Serving's REST predict call over loopback, with the
SavedModel's predictions (== scratchnet's), and clear 4xx JSON errors for malformed requests."""

import http.client
import json
import socket

import numpy as np
import pytest

import scratchnet as sn

pytest.importorskip("tensorflow")
import tfnet  # noqa: E402
from tfnet.serving import ModelServer  # noqa: E402

TIMEOUT = 10  # seconds per request: a hung server fails the test instead of blocking CI


@pytest.fixture(scope="module")
def model():
    return sn.Sequential([sn.layers.Input((4, 3)), sn.layers.Flatten(),
                          sn.layers.Dense(6, activation="relu"),
                          sn.layers.Dense(3, activation="softmax")], seed=0)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    base = tmp_path_factory.mktemp("serving") / "toy"
    tfnet.export_saved_model(model, base / "1")
    tfnet.export_saved_model(model, base / "2")  # TF Serving's layout: the highest version wins
    srv = ModelServer(base, model_name="toy", host="127.0.0.1", port=0).start()
    try:
        yield srv
    finally:
        srv.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", srv.port), timeout=2):
        pass  # stopped: nothing listens on the port any more


def call(server, method, path, body=None, raw=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_predict_row_format_equals_scratchnet(server, model):
    x = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32)
    status, body = call(server, "POST", "/v1/models/toy:predict", {"instances": x.tolist()})
    assert status == 200 and list(body) == ["predictions"]
    # float32 forward in TF vs NumPy: ~1e-5 relative (PARITY.md); JSON carries float32 exactly
    np.testing.assert_allclose(np.array(body["predictions"]), model.predict(x), rtol=1e-5, atol=1e-6)


def test_predict_named_instances_columnar_and_versioned(server, model):
    x = np.random.default_rng(1).normal(size=(2, 4, 3)).astype(np.float32)
    named = [{server.input_name: row} for row in x.tolist()]
    _, rows = call(server, "POST", "/v1/models/toy/versions/2:predict", {"instances": named})
    _, cols = call(server, "POST", "/v1/models/toy:predict",
                   {"inputs": x.tolist(), "signature_name": "serving_default"})
    np.testing.assert_allclose(rows["predictions"], model.predict(x), rtol=1e-5, atol=1e-6)
    assert cols == {"outputs": rows["predictions"]}


def test_status_and_metadata(server):
    status, body = call(server, "GET", "/v1/models/toy")
    assert status == 200
    assert body == {"model_version_status": [{"version": "2", "state": "AVAILABLE",
                                              "status": {"error_code": "OK", "error_message": ""}}]}
    status, meta = call(server, "GET", "/v1/models/toy/metadata")
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    dims = [d["size"] for d in sig["inputs"][server.input_name]["tensor_shape"]["dim"]]
    assert status == 200 and dims == ["-1", "4", "3"]


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1/models/toy:predict", b"{not json", 400, "JSON Parse error"),
    ("POST", "/v1/models/toy:predict", {"instance": [[0]]}, 400, "Missing 'inputs' or 'instances'"),
    ("POST", "/v1/models/toy:predict", {"instances": []}, 400, "non-empty list"),
    ("POST", "/v1/models/toy:predict", {"instances": 3}, 400, "non-empty list"),
    ("POST", "/v1/models/toy:predict", [1, 2], 400, "JSON object"),
    ("POST", "/v1/models/toy:predict", {"instances": [[[0.0] * 3] * 4, [[0.0] * 3] * 3]}, 400, "ragged"),
    ("POST", "/v1/models/toy:predict", {"instances": [[["a"] * 3] * 4]}, 400, "not numeric"),
    ("POST", "/v1/models/toy:predict", {"instances": [[0.0] * 12]}, 400, "shape [4, 3]"),
    ("POST", "/v1/models/toy:predict", {"instances": [{"wrong": [[0.0] * 3] * 4}]}, 400,
     "expected the input named"),
    ("POST", "/v1/models/toy:predict", {"instances": [[[0.0] * 3] * 4], "signature_name": "x"}, 400,
     "signature name"),
    ("POST", "/v1/models/toy:predict", {"instances": [[[0.0] * 3] * 4], "inputs": []}, 400,
     "cannot both"),
    ("POST", "/v1/models/other:predict", {"instances": [[[0.0] * 3] * 4]}, 404, "Servable not found"),
    ("POST", "/v1/models/toy/versions/7:predict", {"instances": [[[0.0] * 3] * 4]}, 404,
     "Servable not found"),
    ("POST", "/v2/whatever", {}, 404, "Malformed request"),
    ("GET", "/v1/models/toy:predict", None, 405, "needs POST"),
    ("POST", "/v1/models/toy", {}, 405, "only for"),
])
def test_malformed_requests_get_clear_4xx(server, method, path, body, status, message):
    raw = body if isinstance(body, bytes) else None
    got_status, got = call(server, method, path, body=None if raw else body, raw=raw)
    assert got_status == status
    assert list(got) == ["error"] and message in got["error"]


def test_oversized_body_is_refused(server):
    limit, server.max_body_bytes = server.max_body_bytes, 100
    try:
        status, body = call(server, "POST", "/v1/models/toy:predict",
                            {"instances": [[[0.0] * 3] * 4] * 10})
    finally:
        server.max_body_bytes = limit
    assert status == 413 and "exceeds the limit" in body["error"]


def test_missing_saved_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no SavedModel"):
        ModelServer(tmp_path, model_name="toy", port=0)
