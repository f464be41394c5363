"""A small HTTP server that answers TensorFlow Serving's REST API from a SavedModel.

Enough of TF Serving's REST API for a client written against TF Serving to work unchanged:

- ``POST /v1/models/NAME:predict`` (or ``/v1/models/NAME/versions/V:predict``) with the row
  format ``{"instances": [x0, x1, ...]}`` (each instance the input tensor of one sample, or
  ``{"<input name>": tensor}``) answers ``{"predictions": [y0, y1, ...]}``; the columnar format
  ``{"inputs": batch}`` answers ``{"outputs": batch}``.
- ``GET /v1/models/NAME`` answers the model's version status; ``GET /v1/models/NAME/metadata``
  its signature.
- Malformed requests get a 4xx status and ``{"error": "<what is wrong>"}``, as TF Serving does.

It serves one model from ``model_dir``: either a SavedModel itself, or TF Serving's layout of
numbered version folders (``model_dir/1``, ``model_dir/2``, ...; the highest is served).
Uses only the standard library's ``http.server`` and TensorFlow; for production, use TensorFlow
Serving itself (same URLs and JSON).

    python -m tfnet.serving --model_dir export/digits --model_name digits --port 8501
    curl -d '{"instances": [[...64 floats...]]}' localhost:8501/v1/models/digits:predict
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

SIGNATURE = "serving_default"
_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                    r"(?P<rest>/metadata|:predict)?$")


class RequestError(Exception):
    """A client mistake: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ModelServer:
    """Serve the SavedModel in ``model_dir`` under ``/v1/models/<model_name>``.

    ``port=0`` picks a free port (see :attr:`port`). Use :meth:`start`/:meth:`stop`, or
    ``with ModelServer(...) as server:``; :meth:`serve_forever` blocks.
    """

    def __init__(self, model_dir, model_name: str = "model", host: str = "127.0.0.1",
                 port: int = 8501, max_body_bytes: int = 64 * 2**20):
        if not isinstance(model_name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", model_name):
            raise ValueError(f"ModelServer: expected model_name of letters, digits, '_', '.', "
                             f"'-', received {model_name!r}")
        self.model_name = model_name
        self.version, path = _find_version(os.fspath(model_dir))
        self.max_body_bytes = int(max_body_bytes)
        self._signature = tf.saved_model.load(path).signatures[SIGNATURE]
        _, kwargs = self._signature.structured_input_signature
        if len(kwargs) != 1:
            raise ValueError(f"ModelServer: expected a signature with one input, found "
                             f"{sorted(kwargs)}")
        ((self.input_name, spec),) = kwargs.items()
        self.input_dtype = spec.dtype.as_numpy_dtype
        self.input_shape = tuple(spec.shape)[1:]  # per instance, without the batch axis
        self.output_names = sorted(self._signature.structured_outputs)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}/v1/models/{self.model_name}"

    def start(self) -> ModelServer:
        """Serve in a background thread; returns at once."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name=f"tfnet-serving-{self.port}")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ the API
    def status(self) -> dict:
        return {"model_version_status": [{
            "version": self.version, "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]}

    def metadata(self) -> dict:
        def spec(shape, dtype):
            return {"dtype": dtype, "tensor_shape": {"dim": [{"size": str(-1 if d is None else d)}
                                                             for d in shape]}}

        outputs = self._signature.structured_outputs
        return {"model_spec": {"name": self.model_name, "signature_name": "",
                               "version": self.version},
                "metadata": {"signature_def": {"signature_def": {SIGNATURE: {
                    "inputs": {self.input_name: spec((None,) + self.input_shape,
                                                     tf.as_dtype(self.input_dtype).name)},
                    "outputs": {k: spec(tuple(v.shape), v.dtype.name) for k, v in outputs.items()},
                    "method_name": "tensorflow/serving/predict"}}}}}

    def predict(self, request: dict) -> dict:
        """Answer one predict request body (already parsed JSON); raises :class:`RequestError`."""
        if not isinstance(request, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               "the request body must be a JSON object, e.g. {\"instances\": [...]}")
        signature_name = request.get("signature_name", SIGNATURE)
        if signature_name != SIGNATURE:
            raise RequestError(HTTPStatus.BAD_REQUEST, f'Serving signature name: "{signature_name}" '
                                                       "not found in signature def")
        if ("instances" in request) == ("inputs" in request):
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               "Missing 'inputs' or 'instances' key" if "inputs" not in request
                               else "'instances' and 'inputs' cannot both be given")
        if "instances" in request:
            instances = request["instances"]
            if not isinstance(instances, list) or not instances:
                raise RequestError(HTTPStatus.BAD_REQUEST,
                                   "'instances' must be a non-empty list, one entry per sample")
            instances = [self._unwrap(inst, f"instances[{i}]") for i, inst in enumerate(instances)]
            batch = self._to_array(instances, "instances")
        else:
            batch = self._to_array(self._unwrap(request["inputs"], "inputs"), "inputs")
        with self._lock:
            outputs = self._signature(**{self.input_name: tf.constant(batch)})
        outputs = {k: np.asarray(v) for k, v in outputs.items()}
        if "inputs" in request:
            if len(outputs) == 1:
                return {"outputs": next(iter(outputs.values())).tolist()}
            return {"outputs": {k: v.tolist() for k, v in outputs.items()}}
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        return {"predictions": [{k: outputs[k][i].tolist() for k in self.output_names}
                                for i in range(len(batch))]}

    def _unwrap(self, value, where: str):
        """A named input ``{"<input name>": tensor}`` -> the tensor; a bare tensor stays."""
        if isinstance(value, dict):
            if set(value) != {self.input_name}:
                raise RequestError(HTTPStatus.BAD_REQUEST,
                                   f"{where}: expected the input named {self.input_name!r}, "
                                   f"received keys {sorted(value)}")
            return value[self.input_name]
        return value

    def _to_array(self, value, where: str) -> np.ndarray:
        try:
            batch = np.array(value, dtype=self.input_dtype)
        except (ValueError, TypeError):
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               f"{where}: expected numbers in nested lists of equal length "
                               f"(each sample of shape {list(self.input_shape)}); the values "
                               "are not numeric or the lists are ragged") from None
        expected = tuple(-1 if d is None else d for d in self.input_shape)
        got = batch.shape[1:]
        if batch.ndim == 0 or len(got) != len(expected) or any(
                e not in (-1, g) for e, g in zip(expected, got, strict=True)):
            raise RequestError(HTTPStatus.BAD_REQUEST,
                               f"{where}: each sample must have shape {list(expected)}, "
                               f"received a batch of shape {list(batch.shape)}")
        if len(batch) == 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"{where}: the batch is empty")
        return batch


def _find_version(model_dir: str) -> tuple[str, str]:
    """``("1", model_dir)`` for a SavedModel folder; the highest numbered version otherwise."""
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return "1", model_dir
    if os.path.isdir(model_dir):
        versions = sorted(int(d) for d in os.listdir(model_dir) if d.isdigit() and
                           os.path.isfile(os.path.join(model_dir, d, "saved_model.pb")))
        if versions:
            return str(versions[-1]), os.path.join(model_dir, str(versions[-1]))
    raise ValueError(f"ModelServer: no SavedModel in {model_dir!r} (expected saved_model.pb there "
                     "or in numbered version folders such as 1/)")


def _handler_for(server: ModelServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tfnet-serving"

        def log_message(self, format, *args):  # quiet: no line per request on stderr
            pass

        def _send(self, status: HTTPStatus, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str):
            match = _ROUTE.match(self.path.split("?", 1)[0])
            if match is None:
                raise RequestError(HTTPStatus.NOT_FOUND, f"Malformed request: {method} {self.path}")
            if match["name"] != server.model_name:
                raise RequestError(HTTPStatus.NOT_FOUND,
                                   f"Servable not found for request: Latest({match['name']})")
            if match["version"] is not None and match["version"] != server.version:
                raise RequestError(HTTPStatus.NOT_FOUND, f"Servable not found for request: "
                                                         f"Specific({match['name']}, {match['version']})")
            return match["rest"]

        def do_GET(self):
            try:
                rest = self._route("GET")
                if rest == ":predict":
                    raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED,
                                       "predict needs POST with a JSON body")
                self._send(HTTPStatus.OK, server.metadata() if rest == "/metadata"
                           else server.status())
            except RequestError as err:
                self._send(err.status, {"error": err.message})

        def do_POST(self):
            try:
                rest = self._route("POST")
                if rest != ":predict":
                    raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED,
                                       f"POST is only for {server.url}:predict")
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    raise RequestError(HTTPStatus.LENGTH_REQUIRED, "Content-Length header needed")
                if int(length) > server.max_body_bytes:
                    self.close_connection = True  # the unread body must not be parsed as a request
                    raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                       f"request body of {length} bytes exceeds the limit of "
                                       f"{server.max_body_bytes}")
                raw = self.rfile.read(int(length))
                try:
                    request = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    raise RequestError(HTTPStatus.BAD_REQUEST, f"JSON Parse error: {err}") from None
                self._send(HTTPStatus.OK, server.predict(request))
            except RequestError as err:
                self._send(err.status, {"error": err.message})
            except Exception as err:  # noqa: BLE001 - a server must answer, not die
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(err).__name__}: {err}"})

    return Handler


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Serve a SavedModel with TF Serving's REST API")
    parser.add_argument("--model_dir", required=True, help="SavedModel, or folder of versions")
    parser.add_argument("--model_name", default="model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    args = parser.parse_args(argv)
    server = ModelServer(args.model_dir, args.model_name, args.host, args.port)
    print(f"serving {args.model_dir} (version {server.version}) at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
