"""A local stand-in for Elasticsearch 9 that follows its REST API, for the endpoints the exporter and the
tests use: ``_bulk``, ``_search`` / ``_count``, ``_index_template``, ``_component_template``, ``_ilm/policy``,
``_slm/policy``, ``_snapshot`` (repositories, and snapshots taken with ``wait_for_completion``),
``_data_stream``, ``<data stream>/_rollover``, ``<index>/_ilm/explain``, ``<index>/_stats``, ``_settings``
(GET with ``index.creation_date``; PUT of dynamic settings), ``DELETE <index>`` (never a data stream's write
index), ``_refresh`` and ``GET /``.

It answers the way Elasticsearch does, so that the official client talks to it over the wire unchanged:
``X-Elastic-Product: Elasticsearch`` on every answer, errors as ``{"error": {"type", "reason", ...},
"status"}``, ``_bulk`` with a result per item (201, or 400 mapping errors, 409 version conflicts), data
streams created on the first ``create`` from the matching index template (``.ds-<name>-<date>-000001``
backing indices carrying the template's settings), dynamic mapping with the conflicts Elasticsearch reports
(object vs. concrete value, non-numeric string into a ``long``, unparsable dates, ``constant_keyword``),
``filter_path``, gzip request bodies, API key / basic auth, and TLS.

``_search`` understands the query DSL the tests and dashboards use (``match``, ``term(s)``, ``range`` with ISO
or ``epoch_millis`` bounds, ``bool``, ``exists``, ``prefix``, a subset of ``query_string``), ``sort``, and the
``terms`` and ``date_histogram`` (``fixed_interval``) aggregations, nested, with ``value_count`` / ``min`` /
``max`` / ``cardinality``.

Faults can be scripted (whole requests answered 429/5xx, single items rejected with 429/5xx/400), and the
server can be stopped and started again on the same port, keeping its data, to play an outage. Searches see
documents at once (as if every request said ``refresh=true``).

    with ElasticsearchServer() as es:
        ... point the exporter at es.url ...
        es.search("logs-*", {"term": {"trace_id": trace_id}})
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import json
import re
import secrets
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.servers._http import LocalHTTPServer

__all__ = ["ElasticsearchServer", "EsError", "Recorded"]

VERSIONS = {9: "9.1.0", 8: "8.19.0"}
_COMPAT_RE = re.compile(r"compatible-with=(\d+)")
_LEAF_TYPES = {"keyword", "constant_keyword", "text", "match_only_text", "long", "integer", "short", "byte",
               "double", "float", "half_float", "scaled_float", "boolean", "date", "date_nanos", "ip",
               "wildcard", "unsigned_long"}
_NUMERIC = {"long", "integer", "short", "byte", "unsigned_long"}
_FLOATS = {"double", "float", "half_float", "scaled_float"}
_ILM_PHASES = {
    "hot": {"set_priority", "unfollow", "rollover", "readonly", "downsample", "shrink", "forcemerge",
            "searchable_snapshot"},
    "warm": {"set_priority", "unfollow", "readonly", "downsample", "allocate", "migrate", "shrink", "forcemerge"},
    "cold": {"set_priority", "unfollow", "readonly", "downsample", "searchable_snapshot", "allocate", "migrate",
             "freeze"},
    "frozen": {"unfollow", "searchable_snapshot"},
    "delete": {"wait_for_snapshot", "delete"},
}
_INVALID_INDEX_CHARS = set('\\/*?"<>| ,#:')
_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


class EsError(Exception):
    """An error answer, shaped like Elasticsearch's."""

    def __init__(self, status: int, type_: str, reason: str, **extra: Any) -> None:
        super().__init__(f"{type_}: {reason}")
        self.status = status
        self.type = type_
        self.reason = reason
        self.extra = extra

    def to_error(self) -> dict[str, Any]:
        cause = {"type": self.type, "reason": self.reason, **self.extra}
        return {"root_cause": [cause], **cause}

    def body(self) -> dict[str, Any]:
        return {"error": self.to_error(), "status": self.status}


@dataclass(slots=True)
class Recorded:
    """One request as it reached the server (body decompressed)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Index:
    name: str
    uuid: str
    settings: dict[str, Any]  # flat: "index.codec" -> value
    mappings: dict[str, dict[str, Any]]  # field path -> {"type": ..., plus "value" for constant_keyword}
    data_stream: str | None = None
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)  # _id -> _source, insertion ordered
    seq_no: int = 0
    rollover_millis: int | None = None  # when it stopped being its data stream's write index
    ilm_step: tuple[str, str, str] | None = None  # (phase, action, step) scripted by a test; None = derived


@dataclass(slots=True)
class _DataStream:
    name: str
    template: str
    indices: list[str]
    generation: int = 1


@dataclass(slots=True)
class _Fault:
    status: int
    type: str
    reason: str
    headers: dict[str, str] = field(default_factory=dict)


def _now_millis() -> int:
    return int(time.time() * 1000)


def _flatten_settings(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= _flatten_settings(value, path + ".")
        else:
            # Elasticsearch keeps settings as strings ("true", "1")
            out[path] = value if isinstance(value, list) else json.dumps(value) if isinstance(value, bool) else str(
                value)
    return {k if k.startswith("index.") else f"index.{k}": v for k, v in out.items()}


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _mapping_paths(mappings: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Explicit ``properties`` as field path -> mapping (objects as {"type": "object"})."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in (mappings.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if not isinstance(spec, Mapping):
            continue
        ftype = spec.get("type", "object")
        out[path] = {"type": ftype, **{k: spec[k] for k in ("value", "subobjects") if k in spec}}
        parts = path.split(".")  # a dotted name in properties implies its parent objects
        for i in range(1, len(parts)):
            out.setdefault(".".join(parts[:i]), {"type": "object"})
        if ftype in ("object", "nested"):
            out |= _mapping_paths(spec, path + ".")
    return out


def parse_date(value: Any) -> int | None:
    """Nanoseconds since the epoch for an ISO 8601 date or epoch millis, as ``strict_date_optional_time||
    epoch_millis`` accepts; None when unparsable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value * 1_000_000)
    if not isinstance(value, str):
        return None
    if value.isdigit():
        return int(value) * 1_000_000
    m = _DATE_RE.match(value)
    if m is None:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC)
    except ValueError:
        return None
    nanos = int((frac or "0").ljust(9, "0"))
    offset = 0
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return (int(dt.timestamp()) - offset) * 1_000_000_000 + nanos


def _flatten_doc(source: Any, prefix: str = "") -> dict[str, list[Any]]:
    """Field path -> leaf values, as queries see a document (dotted keys and nested objects alike)."""
    out: dict[str, list[Any]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
        else:
            out.setdefault(path, []).append(node)

    walk(source, prefix)
    return out


_MISSING = object()


def filter_path(data: Any, expression: str) -> Any:
    """Elasticsearch's ``filter_path`` response filtering (``*`` matches one level, ``**`` any)."""
    patterns = [p.split(".") for p in expression.split(",") if p]

    def filt(node: Any, pats: list[list[str]]) -> Any:
        if any(not p for p in pats):
            return node
        if isinstance(node, list):
            kept = [r for r in (filt(x, pats) for x in node) if r is not _MISSING]
            return kept if kept else _MISSING
        if isinstance(node, Mapping):
            out: dict[str, Any] = {}
            for key, value in node.items():
                sub: list[list[str]] = []
                for p in pats:
                    if p[0] == "**":
                        sub += [p, p[1:]]
                        if len(p) > 1 and fnmatch.fnmatchcase(key, p[1]):
                            sub.append(p[2:])
                    elif fnmatch.fnmatchcase(key, p[0]):
                        sub.append(p[1:])
                if sub:
                    r = filt(value, sub)
                    if r is not _MISSING:
                        out[key] = r
            return out if out else _MISSING
        return _MISSING

    result = filt(data, patterns)
    return {} if result is _MISSING else result


class ElasticsearchServer(LocalHTTPServer):
    thread_name = "elasticsearch-server"

    def __init__(self, *, port: int = 0, api_key: str | None = None, basic_auth: tuple[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, repositories: tuple[str, ...] = (),
                 major: int = 9, product_header: bool = True, max_content_length: int | None = None,
                 path_repo: tuple[str, ...] = ("/snapshots",)) -> None:
        """`api_key` is the encoded form clients send (``Authorization: ApiKey <api_key>``); with `api_key` or
        `basic_auth` set, every other request is answered 401. `repositories` are registered (type ``fs``).
        `major` (8 or 9) is the version answered, and decides which ``compatible-with`` media types are
        accepted (this major and the one before, as Elasticsearch does). ``product_header=False`` plays a
        server that is not Elasticsearch (no ``X-Elastic-Product``). Bodies over `max_content_length` bytes
        are answered 413, as ``http.max_content_length`` does. `path_repo` is the node setting ``path.repo``: an
        ``fs`` repository's location must lie under one of them (a relative one is resolved against the first)."""
        if major not in VERSIONS:
            raise ValueError(f"major must be one of {sorted(VERSIONS)}")
        self.major = major
        self.product_header = product_header
        self.max_content_length = max_content_length
        super().__init__(port=port, ssl_context=ssl_context)
        self.api_key = api_key
        self.basic_auth = basic_auth
        self.requests: list[Recorded] = []
        self._indices: dict[str, _Index] = {}
        self._data_streams: dict[str, _DataStream] = {}
        self._index_templates: dict[str, dict[str, Any]] = {}
        self._component_templates: dict[str, dict[str, Any]] = {}
        self._ilm: dict[str, dict[str, Any]] = {}
        self._slm: dict[str, dict[str, Any]] = {}
        self.path_repo = path_repo
        self._repositories: dict[str, dict[str, Any]] = {
            name: {"type": "fs", "settings": {"location": f"/snapshots/{name}"}} for name in repositories
        }
        self._snapshots: dict[str, dict[str, dict[str, Any]]] = {}  # repository -> name -> {"info", "docs"}
        self._request_faults: deque[_Fault] = deque()
        self._item_faults: deque[_Fault] = deque()
        self._snapshot_faults: deque[_Fault] = deque()
        self._call_faults: list[tuple[str, str, _Fault]] = []

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- scripting faults -----------------------------------------------------------------------------

    def fail_requests(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `times` ``_bulk`` requests as a whole with `status` (429: a circuit breaker trip)."""
        type_, reason = {
            429: ("circuit_breaking_exception", "[parent] Data too large, data for [<http_request>] would be larger "
                  "than limit"),
            503: ("unavailable_shards_exception", "primary shard is not active"),
        }.get(status, ("exception", f"scripted failure {status}"))
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._request_faults.extend(_Fault(status, type_, reason, headers) for _ in range(times))

    def fail_items(self, status: int, *, times: int = 1) -> None:
        """Reject the next `times` bulk items with `status` (429: ``es_rejected_execution_exception``)."""
        type_, reason = {
            429: ("es_rejected_execution_exception", "rejected execution of coordinating operation "
                  "[coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, max_coordinating_and_primary"
                  "_bytes=0]"),
            500: ("exception", "scripted internal failure"),
            503: ("unavailable_shards_exception", "[logs][0] primary shard is not active Timeout: [1m]"),
            400: ("document_parsing_exception", "[1:1] failed to parse: scripted rejection"),
        }.get(status, ("exception", f"scripted failure {status}"))
        with self._lock:
            self._item_faults.extend(_Fault(status, type_, reason) for _ in range(times))

    # -- what the cluster holds (for assertions) ------------------------------------------------------

    def fail_snapshots(self, *, times: int = 1, status: int = 200, state: str = "FAILED") -> None:
        """The next `times` snapshot creations fail: with ``status`` 200 the snapshot completes in `state`
        (``FAILED`` or ``PARTIAL``, shards failed, as a full disk or a broken repository does); any other status
        answers the request with that error (e.g. 503) and takes no snapshot."""
        with self._lock:
            self._snapshot_faults.extend(_Fault(status, state, "scripted snapshot failure") for _ in range(times))

    def fail_calls(self, method: str, path_prefix: str, status: int, *, times: int = 1) -> None:
        """Answer the next `times` requests `method` on a path starting with `path_prefix` with `status` (any API:
        e.g. ``fail_calls("DELETE", "/.ds-", 503)``)."""
        type_ = {403: "security_exception", 429: "circuit_breaking_exception",
                 503: "unavailable_shards_exception"}.get(status, "exception")
        with self._lock:
            self._call_faults.extend((method, path_prefix, _Fault(status, type_, f"scripted failure {status}"))
                                     for _ in range(times))

    def clear_faults(self) -> None:
        """Forget every scripted fault not yet used."""
        with self._lock:
            self._request_faults.clear()
            self._item_faults.clear()
            self._snapshot_faults.clear()
            self._call_faults.clear()

    def rollover(self, data_stream: str) -> str:
        """Roll a data stream over (as ``POST <data stream>/_rollover``); the new write index's name."""
        status, answer = self.call("POST", f"/{data_stream}/_rollover")
        if status != 200:
            raise RuntimeError(answer)
        new_index: str = answer["new_index"]
        return new_index

    def age_index(self, index: str, days: float) -> None:
        """Make an index (and its rollover, if any) `days` older: as if it had been created that long ago."""
        with self._lock:
            idx = self._indices[index]
            shift = int(days * 86_400_000)
            idx.settings["index.creation_date"] = str(int(idx.settings["index.creation_date"]) - shift)
            if idx.rollover_millis is not None:
                idx.rollover_millis -= shift

    def set_ilm_step(self, index: str, phase: str, action: str, step: str) -> None:
        """Script where ILM is with an index, as ``_ilm/explain`` reports it."""
        with self._lock:
            self._indices[index].ilm_step = (phase, action, step)

    def index_names(self, data_stream: str) -> list[str]:
        with self._lock:
            return list(self._data_streams[data_stream].indices)

    def snapshot_documents(self, repository: str, snapshot: str) -> dict[str, list[dict[str, Any]]]:
        """What a snapshot holds: index name -> its documents at the time it was taken."""
        with self._lock:
            docs: dict[str, list[dict[str, Any]]] = self._snapshots[repository][snapshot]["docs"]
            return docs

    def documents(self, target: str = "*") -> list[dict[str, Any]]:
        """Every ``_source`` in the indices / data streams `target` resolves to, in arrival order."""
        with self._lock:
            return [dict(src) for idx in self._resolve(target, allow_missing=True) for src in idx.docs.values()]

    def search(self, target: str, query: Mapping[str, Any] | None = None, size: int = 10_000) -> list[dict[str, Any]]:
        status, body = self.call("POST", f"/{target}/_search", {"query": query or {"match_all": {}}, "size": size})
        if status != 200:
            raise AssertionError(f"search failed: {status} {body}")
        return [hit["_source"] for hit in body["hits"]["hits"]]

    def wait_for_documents(self, target: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """At least `count` documents in `target`; fails with what did arrive after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                docs = self.documents(target)
                if len(docs) >= count:
                    return docs
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} document(s) in {target!r} within {timeout}s, got "
                                         f"{len(docs)}")
                self._lock.wait(remaining)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One API call in-process (no HTTP): (status, decoded answer)."""
        raw = json.dumps(body).encode() if body is not None else b""
        split = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        status, _, payload = self._dispatch(method, unquote(split.path), query, raw)
        return status, json.loads(payload) if payload else None

    # -- HTTP -----------------------------------------------------------------------------------------

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self.api_key is None and self.basic_auth is None:
            return True
        given = headers.get("authorization", "")
        if self.api_key is not None and given == f"ApiKey {self.api_key}":
            return True
        if self.basic_auth is not None:
            expected = base64.b64encode(f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()).decode()
            if given == f"Basic {expected}":
                return True
        return False

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        status, extra, payload = self._answer(method, target, headers, body)
        if self.product_header:
            extra = {"X-Elastic-Product": "Elasticsearch", **extra}
        return status, extra, payload

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        path = unquote(split.path)
        if headers.get("content-encoding") == "gzip":
            try:
                body = gzip.decompress(body)
            except OSError as exc:
                err = EsError(400, "parse_exception", f"cannot decompress request body: {exc}")
                return 400, {"Content-Type": "application/json"}, json.dumps(err.body()).encode()
        with self._lock:
            self.requests.append(Recorded(method, path, query, headers, body))
        media = {"Content-Type": "application/json"}
        if self.max_content_length is not None and len(body) > self.max_content_length:
            return 413, media, b""
        versions = {int(v) for h in ("accept", "content-type") for v in _COMPAT_RE.findall(headers.get(h, ""))}
        if versions:
            if len(versions) > 1 or not versions <= {self.major, self.major - 1}:
                err = EsError(400, "media_type_header_exception",
                              "Invalid media-type value on headers [Accept, Content-Type]",
                              caused_by={"type": "status_exception", "reason": "A compatible version is required on "
                                         "both Content-Type and Accept headers if either one has requested a "
                                         "compatible version and the compatible versions must match. Accept="
                                         f"{headers.get('accept')}, Content-Type={headers.get('content-type')}"})
                return 400, media, json.dumps(err.body()).encode()
            media = {"Content-Type": f"application/vnd.elasticsearch+json;compatible-with={versions.pop()}"}
        if not self._authorized(headers):
            err = EsError(401, "security_exception", f"unable to authenticate user for REST request [{path}]",
                          header={"WWW-Authenticate": ['Basic realm="security", charset="UTF-8"', "ApiKey"]})
            return 401, {"WWW-Authenticate": 'Basic realm="security", charset="UTF-8"', **media}, json.dumps(
                err.body()).encode()
        status, extra, payload = self._dispatch(method, path, query, body)
        return status, {**media, **extra}, payload

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        headers: dict[str, str] = {}
        try:
            with self._lock:
                status, answer, headers = self._route(method, path, query, body)
                self._lock.notify_all()
        except EsError as exc:
            status, answer = exc.status, exc.body()
        if "filter_path" in query and isinstance(answer, Mapping):
            answer = filter_path(answer, query["filter_path"])
        payload = b"" if method == "HEAD" else json.dumps(answer).encode()
        return status, headers, payload

    # -- routing --------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[
            int, Any, dict[str, str]]:
        for i, (fault_method, prefix, fault) in enumerate(self._call_faults):
            if method == fault_method and path.startswith(prefix):
                del self._call_faults[i]
                raise EsError(fault.status, fault.type, fault.reason)
        parts = [p for p in path.split("/") if p]
        if not parts:
            return 200, self._info(), {}
        if parts[-1] == "_bulk" and method in ("POST", "PUT") and len(parts) <= 2:
            return self._bulk(parts[0] if len(parts) == 2 else None, body)
        json_body = self._json(body) if body else None
        head = parts[0]
        handlers: dict[str, Callable[[str, list[str], Any, dict[str, str]], tuple[int, Any]]] = {
            "_index_template": self._index_template_api,
            "_component_template": self._component_template_api,
            "_ilm": self._ilm_api,
            "_slm": self._slm_api,
            "_snapshot": self._snapshot_api,
            "_data_stream": self._data_stream_api,
        }
        if head in handlers:
            status, answer = handlers[head](method, parts[1:], json_body, query)
            return status, answer, {}
        if head in ("_search", "_count", "_refresh", "_settings", "_mapping"):
            parts = ["_all", *parts]
        if len(parts) == 2 and parts[1] in ("_search", "_count") and method in ("GET", "POST"):
            return 200, self._search(parts[0], json_body or {}, query, count=parts[1] == "_count"), {}
        if len(parts) == 2 and parts[1] == "_refresh" and method in ("GET", "POST"):
            self._resolve(parts[0], allow_missing=False)
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}, {}
        if len(parts) == 2 and parts[1] == "_settings" and method == "GET":
            return 200, self._settings(parts[0], query), {}
        if len(parts) == 2 and parts[1] == "_settings" and method == "PUT":
            return 200, self._update_settings(parts[0], json_body), {}
        if len(parts) == 2 and parts[1] == "_mapping" and method == "GET":
            return 200, {i.name: {"mappings": i.mappings} for i in self._resolve(parts[0], False)}, {}
        if len(parts) == 2 and parts[1] == "_rollover" and method == "POST":
            return 200, self._rollover(parts[0]), {}
        if len(parts) == 3 and parts[1:] == ["_ilm", "explain"] and method in ("GET", "POST"):
            return 200, {"indices": {i.name: self._explain(i) for i in self._resolve(parts[0], False)}}, {}
        if len(parts) in (2, 3) and parts[1] == "_stats" and method == "GET":
            return 200, self._stats(parts[0]), {}
        if len(parts) == 1 and method == "DELETE" and not head.startswith("_"):
            if head in self._data_streams:
                raise EsError(400, "illegal_argument_exception",
                              f"index [{head}] is a data stream: delete it with DELETE _data_stream/{head}")
            doomed = self._resolve(head, allow_missing=False)
            for idx in doomed:
                ds = self._data_streams.get(idx.data_stream or "")
                if ds is not None and ds.indices[-1] == idx.name:
                    raise EsError(400, "illegal_argument_exception",
                                  f"index [{idx.name}] is the write index for data stream [{ds.name}] and "
                                  "cannot be deleted")
            for idx in doomed:
                ds = self._data_streams.get(idx.data_stream or "")
                if ds is not None:
                    ds.indices.remove(idx.name)
                del self._indices[idx.name]
            return 200, {"acknowledged": True}, {}
        if len(parts) == 1 and method == "HEAD":
            return (200 if self._resolve(head, allow_missing=True) else 404), {}, {}
        raise EsError(400 if method in ("GET", "HEAD") else 405, "illegal_argument_exception",
                      f"request [{method} {path}] is not supported by this stand-in")

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise EsError(400, "x_content_parse_exception", f"[1:1] failed to parse request body: {exc}") from None

    def _info(self) -> dict[str, Any]:
        return {
            "name": "local-stand-in",
            "cluster_name": "otel-distro-tests",
            "cluster_uuid": "l0c4l-st4nd-1n",
            "version": {"number": VERSIONS[self.major], "build_flavor": "default", "build_type": "tar",
                        "lucene_version": "10.2.2", "minimum_wire_compatibility_version": "8.19.0",
                        "minimum_index_compatibility_version": "8.0.0"},
            "tagline": "You Know, for Search",
        }

    # -- indices and data streams ---------------------------------------------------------------------

    def _resolve(self, expression: str, allow_missing: bool) -> list[_Index]:
        """Indices an expression names: comma lists, wildcards, data streams (-> backing indices), _all."""
        found: dict[str, _Index] = {}
        for part in expression.split(","):
            if part in ("_all", "*"):
                part = "*"
            if "*" in part or "?" in part:
                for ds in self._data_streams.values():
                    if fnmatch.fnmatchcase(ds.name, part):
                        found |= {n: self._indices[n] for n in ds.indices}
                for name, idx in self._indices.items():
                    hidden = name.startswith(".") and not part.startswith(".")
                    if not hidden and fnmatch.fnmatchcase(name, part):
                        found[name] = idx
                continue
            if part in self._data_streams:
                found |= {n: self._indices[n] for n in self._data_streams[part].indices}
            elif part in self._indices:
                found[part] = self._indices[part]
            elif not allow_missing:
                raise EsError(404, "index_not_found_exception", f"no such index [{part}]",
                              **{"resource.type": "index_or_alias", "resource.id": part, "index": part})
        return list(found.values())

    def _matching_template(self, name: str) -> tuple[str, dict[str, Any]] | None:
        best: tuple[int, str, dict[str, Any]] | None = None
        for tname, template in self._index_templates.items():
            patterns = template["index_patterns"]
            if any(fnmatch.fnmatchcase(name, p) for p in patterns):
                priority = int(template.get("priority", 0))
                if best is None or priority > best[0]:
                    best = (priority, tname, template)
        return (best[1], best[2]) if best else None

    def _composed(self, template: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Settings (flat) and mappings (paths) of a template, component templates first, in order."""
        settings: dict[str, Any] = {}
        mappings: dict[str, dict[str, Any]] = {}
        parts = [self._component_templates[c]["template"] for c in template.get("composed_of", [])
                 if c in self._component_templates]
        parts.append(template.get("template", {}))
        for part in parts:
            settings |= _flatten_settings(part.get("settings", {}))
            mappings |= _mapping_paths(part.get("mappings", {}))
        return settings, mappings

    def _create_index(self, name: str, data_stream: str | None, template: Mapping[str, Any] | None) -> _Index:
        settings, mappings = self._composed(template) if template else ({}, {})
        settings = {"index.number_of_shards": "1", "index.number_of_replicas": "1", **settings,
                    "index.provided_name": name, "index.uuid": secrets.token_urlsafe(16),
                    "index.creation_date": str(_now_millis())}
        if data_stream is not None:
            settings["index.hidden"] = "true"
            mappings.setdefault("@timestamp", {"type": "date"})
        idx = _Index(name, settings["index.uuid"], settings, mappings, data_stream)
        self._indices[name] = idx
        return idx

    def _write_index(self, name: str, op: str) -> _Index:
        if name in self._data_streams:
            if op != "create":
                raise EsError(400, "illegal_argument_exception",
                              "only write ops with an op_type of create are allowed in data streams")
            return self._indices[self._data_streams[name].indices[-1]]
        if name in self._indices:
            return self._indices[name]
        if (name != name.lower() or name[0] in "_-+" or name in (".", "..")
                or any(c in _INVALID_INDEX_CHARS for c in name)):
            raise EsError(400, "invalid_index_name_exception", f"Invalid index name [{name}], must be lowercase "
                          "and must not contain the characters [\\, /, *, ?, \", <, >, |, ' ', ',', #, :]",
                          index=name)
        matched = self._matching_template(name)
        if matched is not None and "data_stream" in matched[1]:
            if op != "create":
                raise EsError(400, "illegal_argument_exception",
                              "only write ops with an op_type of create are allowed in data streams")
            backing = f".ds-{name}-{time.strftime('%Y.%m.%d', time.gmtime())}-000001"
            self._data_streams[name] = _DataStream(name, matched[0], [backing])
            return self._create_index(backing, name, matched[1])
        return self._create_index(name, None, matched[1] if matched else None)

    def _rollover(self, name: str) -> dict[str, Any]:
        ds = self._data_streams.get(name)
        if ds is None:
            raise EsError(400, "illegal_argument_exception", f"rollover target [{name}] does not exist")
        old = self._indices[ds.indices[-1]]
        ds.generation += 1
        new_name = f".ds-{name}-{time.strftime('%Y.%m.%d', time.gmtime())}-{ds.generation:06d}"
        template = self._index_templates.get(ds.template)
        new = self._create_index(new_name, name, template)
        new.mappings = dict(old.mappings)
        old.rollover_millis = _now_millis()
        ds.indices.append(new_name)
        return {"acknowledged": True, "shards_acknowledged": True, "old_index": old.name, "new_index": new_name,
                "rolled_over": True, "dry_run": False, "lazy": False, "conditions": {}}

    def _explain(self, idx: _Index) -> dict[str, Any]:
        """``_ilm/explain`` for one index: a rolled-over index has finished its hot phase; the write index waits
        for rollover; a test may script any other step (`set_ilm_step`)."""
        policy = idx.settings.get("index.lifecycle.name")
        if not policy:
            return {"index": idx.name, "managed": False}
        created = int(idx.settings["index.creation_date"])
        lifecycle_date = idx.rollover_millis if idx.rollover_millis is not None else created
        phase, action, step = idx.ilm_step or (
            ("hot", "complete", "complete") if idx.rollover_millis is not None
            else ("hot", "rollover", "check-rollover-ready"))
        entry: dict[str, Any] = {
            "index": idx.name, "managed": True, "policy": policy, "index_creation_date_millis": created,
            "lifecycle_date_millis": lifecycle_date, "phase": phase, "action": action, "step": step,
            "phase_time_millis": lifecycle_date, "action_time_millis": lifecycle_date,
            "step_time_millis": lifecycle_date,
        }
        if step == "ERROR":
            entry["failed_step"] = "check-rollover-ready"
            entry["step_info"] = {"type": "illegal_argument_exception", "reason": "scripted ILM failure"}
        return entry

    def _stats(self, target: str) -> dict[str, Any]:
        indices = {}
        for idx in self._resolve(target, allow_missing=False):
            size = sum(len(json.dumps(doc)) for doc in idx.docs.values()) + 225  # an empty shard has a few bytes
            section = {"docs": {"count": len(idx.docs), "deleted": 0}, "store": {"size_in_bytes": size}}
            indices[idx.name] = {"uuid": idx.uuid, "health": "green", "status": "open", "primaries": section,
                                 "total": section}
        total_size = sum(i["total"]["store"]["size_in_bytes"] for i in indices.values())
        total_docs = sum(i["total"]["docs"]["count"] for i in indices.values())
        both = {"docs": {"count": total_docs, "deleted": 0}, "store": {"size_in_bytes": total_size}}
        return {"_shards": {"total": len(indices), "successful": len(indices), "failed": 0},
                "_all": {"primaries": both, "total": both}, "indices": indices}

    # -- _bulk ----------------------------------------------------------------------------------------

    def _bulk(self, default_index: str | None, body: bytes) -> tuple[int, Any, dict[str, str]]:
        started = time.monotonic()
        if self._request_faults:
            fault = self._request_faults.popleft()
            err = EsError(fault.status, fault.type, fault.reason)
            return fault.status, err.body(), fault.headers
        lines = [line for line in body.split(b"\n") if line.strip()]
        items: list[dict[str, Any]] = []
        i = 0
        while i < len(lines):
            try:
                action = json.loads(lines[i])
            except ValueError:
                raise EsError(400, "x_content_parse_exception", f"[{i + 1}:1] Malformed action/metadata line "
                              f"[{i + 1}], expected START_OBJECT") from None
            if not isinstance(action, dict) or len(action) != 1:
                raise EsError(400, "illegal_argument_exception",
                              f"Malformed action/metadata line [{i + 1}], expected a simple value for field")
            op, meta = next(iter(action.items()))
            if op not in ("create", "index", "update", "delete"):
                raise EsError(400, "illegal_argument_exception",
                              f"Malformed action/metadata line [{i + 1}], expected one of [create, delete, index, "
                              f"update] but found [{op}]")
            source: Any = None
            if op != "delete":
                if i + 1 >= len(lines):
                    raise EsError(400, "action_request_validation_exception",
                                  "Validation Failed: 1: no requests added;")
                try:
                    source = json.loads(lines[i + 1])
                except ValueError as exc:
                    source = exc
                i += 2
            else:
                i += 1
            items.append({op: self._bulk_item(op, meta or {}, source, default_index)})
        if not items:
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
        errors = any("error" in next(iter(item.values())) for item in items)
        took = int((time.monotonic() - started) * 1000)
        return 200, {"errors": errors, "took": took, "items": items}, {}

    def _bulk_item(self, op: str, meta: Mapping[str, Any], source: Any, default_index: str | None) -> dict[str, Any]:
        index_name = meta.get("_index", default_index)
        doc_id = meta.get("_id")
        result: dict[str, Any] = {"_index": index_name, "_id": doc_id}
        try:
            if self._item_faults:
                fault = self._item_faults.popleft()
                raise EsError(fault.status, fault.type, fault.reason)
            if not index_name:
                raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
            if op in ("update", "delete"):
                raise EsError(400, "illegal_argument_exception", f"{op} is not supported by this stand-in")
            if isinstance(source, Exception):
                raise EsError(400, "document_parsing_exception", f"[1:1] failed to parse: {source}")
            if not isinstance(source, dict):
                raise EsError(400, "document_parsing_exception", "[1:1] failed to parse: expected an object")
            idx = self._write_index(index_name, op)
            result["_index"] = idx.name
            doc_id = doc_id or base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()
            result["_id"] = doc_id
            if op == "create" and doc_id in idx.docs:
                raise EsError(409, "version_conflict_engine_exception",
                              f"[{doc_id}]: version conflict, document already exists (current version [1])",
                              index_uuid=idx.uuid, shard="0", index=idx.name)
            self._check_document(idx, source, doc_id)
            created = doc_id not in idx.docs
            idx.docs[doc_id] = source
            idx.seq_no += 1
            return {**result, "_version": 1, "result": "created" if created else "updated",
                    "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": idx.seq_no - 1,
                    "_primary_term": 1, "status": 201 if created else 200}
        except EsError as exc:
            return {**result, "status": exc.status, "error": {"type": exc.type, "reason": exc.reason, **exc.extra}}

    def _check_document(self, idx: _Index, source: Mapping[str, Any], doc_id: str) -> None:
        """Dynamic mapping as Elasticsearch applies it: new fields are added, conflicts reject the document.
        Mappings are only kept when the whole document is accepted."""
        added: dict[str, dict[str, Any]] = {}
        ignore_malformed = idx.settings.get("index.mapping.ignore_malformed") == "true"

        def mapping(path: str) -> dict[str, Any] | None:
            return added.get(path) or idx.mappings.get(path)

        def fail(path: str, ftype: str, value: Any) -> None:
            preview = json.dumps(value)[:40] if not isinstance(value, str) else value[:40]
            raise EsError(400, "document_parsing_exception",
                          f"[1:1] failed to parse field [{path}] of type [{ftype}] in document with id "
                          f"'{doc_id}'. Preview of field's value: '{preview}'")

        def put_object(path: str, field: str) -> None:
            parts = path.split(".")
            for i in range(1, len(parts) + 1):
                sub = ".".join(parts[:i])
                existing = mapping(sub)
                if existing is None:
                    added[sub] = {"type": "object"}
                elif existing["type"] == "flattened":
                    return
                elif existing["type"] not in ("object", "nested"):
                    raise EsError(400, "document_parsing_exception",
                                  f"[1:1] Could not dynamically add mapping for field [{field}]. Existing mapping "
                                  f"for [{sub}] must be of type object but found [{existing['type']}].")

        def in_flattened(path: str) -> bool:
            parts = path.split(".")
            return any((m := mapping(".".join(parts[:i]))) is not None and m["type"] == "flattened"
                       for i in range(1, len(parts)))

        def walk(node: Mapping[str, Any], prefix: str) -> None:
            container = mapping(prefix[:-1]) if prefix else None
            if container is not None and container.get("subobjects") is False:
                # dotted keys stay leaf names; objects below are flattened into them
                for path, values in _flatten_doc(node, prefix[:-1]).items():
                    for v in values:
                        leaf(path, v)
                return
            for key, value in node.items():
                path = f"{prefix}{key}"
                if in_flattened(path):
                    continue
                parent = path.rpartition(".")[0]
                if parent:
                    put_object(parent, path)
                values = value if isinstance(value, list) else [value]
                for v in values:
                    leaf(path, v)

        def leaf(path: str, value: Any) -> None:
            existing = mapping(path)
            if isinstance(value, Mapping):
                if existing is not None and existing["type"] == "flattened":
                    return
                if existing is not None and existing["type"] not in ("object", "nested"):
                    fail(path, existing["type"], value)
                put_object(path, path)
                walk(value, path + ".")
                return
            if value is None:
                return
            if existing is not None and existing["type"] in ("object", "nested"):
                raise EsError(400, "document_parsing_exception",
                              f"[1:1] object mapping for [{path}] tried to parse field [{path.rpartition('.')[2]}]"
                              " as object, but found a concrete value")
            if existing is None:
                added[path] = {"type": _infer_type(value)}
                return
            ftype = existing["type"]
            if ftype == "constant_keyword":
                if "value" not in existing:
                    added[path] = {"type": ftype, "value": str(value)}
                elif str(value) != existing["value"]:
                    raise EsError(400, "document_parsing_exception",
                                  f"[1:1] failed to parse field [{path}] of type [constant_keyword] in document with "
                                  f"id '{doc_id}'. Preview of field's value: '{value}'",
                                  caused_by={"type": "illegal_argument_exception", "reason":
                                             f"[constant_keyword] field [{path}] only accepts values that are equal "
                                             f"to the value defined in the mappings [{existing['value']}], but got "
                                             f"[{value}]"})
            elif not ignore_malformed and not _fits(ftype, value):
                fail(path, ftype, value)

        if idx.data_stream is not None:
            ts = _flatten_doc(source).get("@timestamp")
            if not ts:
                raise EsError(400, "document_parsing_exception",
                              "[1:1] failed to parse: data stream timestamp field [@timestamp] is missing")
        walk(source, "")
        idx.mappings |= added

    # -- search ---------------------------------------------------------------------------------------

    def _search(self, target: str, body: Mapping[str, Any], params: Mapping[str, str], count: bool) -> dict[str, Any]:
        indices = self._resolve(target, allow_missing=params.get("ignore_unavailable") == "true")
        query = body.get("query") or ({"match_all": {}} if "q" not in params else _query_string(params["q"]))
        matcher = _compile(query)
        hits = [(idx, doc_id, src) for idx in indices for doc_id, src in idx.docs.items()
                if matcher(_flatten_doc(src), doc_id)]
        aggs = body.get("aggs") or body.get("aggregations")
        shards = {"total": len(indices), "successful": len(indices), "skipped": 0, "failed": 0}
        if count:
            return {"count": len(hits), "_shards": shards}
        sort = body.get("sort")
        sort_keys: list[tuple[str, bool]] = []
        if sort:
            for entry in sort if isinstance(sort, list) else [sort]:
                if isinstance(entry, str):
                    sort_keys.append((entry, False))
                else:
                    for fname, spec in entry.items():
                        order = spec.get("order", "asc") if isinstance(spec, Mapping) else spec
                        sort_keys.append((fname, order == "desc"))
        for fname, desc in reversed(sort_keys):
            hits.sort(key=_sort_key(fname), reverse=desc)
        start = int(body.get("from", params.get("from", 0)))
        size = int(body.get("size", params.get("size", 10)))
        want_source = body.get("_source", True) is not False
        out_hits = []
        for idx, doc_id, src in hits[start:start + size]:
            hit: dict[str, Any] = {"_index": idx.name, "_id": doc_id, "_score": None if sort_keys else 1.0}
            if want_source:
                hit["_source"] = src
            if sort_keys:
                hit["sort"] = [_sort_value(_flatten_doc(src).get(f))[1] for f, _ in sort_keys]
            out_hits.append(hit)
        total = len(hits)
        track = body.get("track_total_hits", 10_000)
        relation = "eq"
        if track is not True and isinstance(track, int) and total > track:
            total, relation = track, "gte"
        answer = {
            "took": 1, "timed_out": False, "_shards": shards,
            "hits": {"total": {"value": total, "relation": relation}, "max_score": None if sort_keys else 1.0,
                     "hits": out_hits},
        }
        if aggs:
            answer["aggregations"] = _aggregate(aggs, [_flatten_doc(src) for _, _, src in hits])
        return answer

    def _update_settings(self, target: str, body: Any) -> dict[str, Any]:
        """``PUT <index>/_settings``: dynamic settings only (nested or flat keys, with or without ``index.``)."""
        if not isinstance(body, Mapping) or not body:
            raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: no settings to update;")
        flat = _flatten_settings(body.get("settings", body) if set(body) == {"settings"} else body)
        static = [k for k in flat if k in ("index.number_of_shards", "index.codec", "index.provided_name",
                                           "index.uuid", "index.creation_date")]
        if static:
            raise EsError(400, "illegal_argument_exception", f"Can't update non dynamic settings [[{static[0]}]] for "
                          "open indices")
        origination = flat.get("index.lifecycle.origination_date")
        if origination is not None and not str(origination).lstrip("-").isdigit():
            raise EsError(400, "illegal_argument_exception", "failed to parse value [" + str(origination) + "] for "
                          "setting [index.lifecycle.origination_date], must be a number (epoch millis)")
        for idx in self._resolve(target, allow_missing=False):
            idx.settings |= flat
        return {"acknowledged": True}

    def _settings(self, target: str, params: Mapping[str, str]) -> dict[str, Any]:
        flat = params.get("flat_settings") == "true"
        return {idx.name: {"settings": dict(idx.settings) if flat else _nest(idx.settings)}
                for idx in self._resolve(target, allow_missing=False)}

    # -- templates ------------------------------------------------------------------------------------

    def _index_template_api(self, method: str, rest: list[str], body: Any, query: dict[str, str]) -> tuple[int, Any]:
        name = rest[0] if rest else "*"
        if method == "GET":
            found = [{"name": n, "index_template": t} for n, t in sorted(self._index_templates.items())
                     if fnmatch.fnmatchcase(n, name)]
            if not found and rest and "*" not in name:
                raise EsError(404, "resource_not_found_exception", f"index template matching [{name}] not found")
            return 200, {"index_templates": found}
        if method == "DELETE":
            self._delete_named(self._index_templates, name, "index template matching")
            return 200, {"acknowledged": True}
        if method in ("PUT", "POST") and rest:
            if not isinstance(body, Mapping):
                raise EsError(400, "parse_exception", "request body is required")
            template = dict(body)
            patterns = template.get("index_patterns")
            if isinstance(patterns, str):
                patterns = [patterns]
            if not patterns:
                raise EsError(400, "action_request_validation_exception",
                              "Validation Failed: 1: index patterns are missing;")
            template["index_patterns"] = patterns
            unknown = set(template) - {"index_patterns", "composed_of", "template", "priority", "version", "_meta",
                                       "data_stream", "allow_auto_create", "ignore_missing_component_templates",
                                       "deprecated"}
            if unknown:
                raise EsError(400, "x_content_parse_exception",
                              f"[1:2] [index_template] unknown field [{sorted(unknown)[0]}]")
            ignore = set(template.get("ignore_missing_component_templates", []))
            missing = [c for c in template.get("composed_of", []) if c not in self._component_templates
                       and c not in ignore]
            if missing:
                raise EsError(400, "invalid_index_template_exception",
                              f"index_template [{name}] invalid, cause [index template [{name}] specifies component "
                              f"templates {missing} that do not exist]")
            priority = int(template.get("priority", 0))
            for other_name, other in self._index_templates.items():
                if other_name == name or int(other.get("priority", 0)) != priority:
                    continue
                if any(fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a)
                       for a in patterns for b in other["index_patterns"]):
                    raise EsError(400, "illegal_argument_exception",
                                  f"index template [{name}] has index patterns {patterns} matching patterns from "
                                  f"existing templates [{other_name}] with patterns ({other_name} => "
                                  f"{other['index_patterns']}) that have the same priority [{priority}], multiple "
                                  "index templates may not match during index creation, please use a different "
                                  "priority")
            if query.get("create") == "true" and name in self._index_templates:
                raise EsError(400, "illegal_argument_exception", f"index template [{name}] already exists")
            self._index_templates[name] = template
            return 200, {"acknowledged": True}
        raise EsError(405, "illegal_argument_exception", f"{method} not allowed on _index_template")

    def _component_template_api(self, method: str, rest: list[str], body: Any, query: dict[str, str]) -> tuple[
            int, Any]:
        name = rest[0] if rest else "*"
        if method == "GET":
            found = [{"name": n, "component_template": t} for n, t in sorted(self._component_templates.items())
                     if fnmatch.fnmatchcase(n, name)]
            if not found and rest and "*" not in name:
                raise EsError(404, "resource_not_found_exception", f"component template matching [{name}] not found")
            return 200, {"component_templates": found}
        if method == "DELETE":
            users = [n for n, t in self._index_templates.items() if name in t.get("composed_of", [])]
            if users:
                raise EsError(400, "illegal_argument_exception",
                              f"component templates [{name}] cannot be removed as they are still in use by index "
                              f"templates {users}")
            self._delete_named(self._component_templates, name, "component template matching")
            return 200, {"acknowledged": True}
        if method in ("PUT", "POST") and rest:
            if not isinstance(body, Mapping) or not isinstance(body.get("template"), Mapping):
                raise EsError(400, "action_request_validation_exception",
                              "Validation Failed: 1: template is missing;")
            unknown = set(body) - {"template", "version", "_meta", "deprecated"}
            if unknown:
                raise EsError(400, "x_content_parse_exception",
                              f"[1:2] [component_template] unknown field [{sorted(unknown)[0]}]")
            self._component_templates[name] = dict(body)
            return 200, {"acknowledged": True}
        raise EsError(405, "illegal_argument_exception", f"{method} not allowed on _component_template")

    @staticmethod
    def _delete_named(store: dict[str, Any], name: str, what: str) -> None:
        names = [n for n in store if fnmatch.fnmatchcase(n, name)]
        if not names:
            raise EsError(404, "resource_not_found_exception", f"{what} [{name}] not found")
        for n in names:
            del store[n]

    # -- ILM, SLM, snapshot repositories --------------------------------------------------------------

    def _ilm_api(self, method: str, rest: list[str], body: Any, query: dict[str, str]) -> tuple[int, Any]:
        if not rest or rest[0] != "policy":
            raise EsError(400, "illegal_argument_exception", f"unsupported _ilm endpoint {rest}")
        name = rest[1] if len(rest) > 1 else "*"
        if method == "GET":
            found = {n: self._ilm_entry(n, p) for n, p in sorted(self._ilm.items()) if fnmatch.fnmatchcase(n, name)}
            if not found and len(rest) > 1:
                raise EsError(404, "resource_not_found_exception", f"Lifecycle policy not found: [{name}]")
            return 200, found
        if method == "DELETE":
            self._delete_named(self._ilm, name, "Lifecycle policy not found:")
            return 200, {"acknowledged": True}
        if method == "PUT" and len(rest) > 1:
            if not isinstance(body, Mapping) or not isinstance(body.get("policy"), Mapping):
                raise EsError(400, "parse_exception", "request body or source parameter is required")
            policy = json.loads(json.dumps(body["policy"]))
            for key in policy:
                if key not in ("phases", "_meta"):
                    raise EsError(400, "x_content_parse_exception", f"[1:12] [lifecycle_policy] unknown field [{key}]")
            for phase, spec in (policy.get("phases") or {}).items():
                if phase not in _ILM_PHASES:
                    raise EsError(400, "illegal_argument_exception",
                                  f"Timeseries lifecycle does not support phase [{phase}]")
                for action in (spec.get("actions") or {}):
                    if action not in _ILM_PHASES[phase]:
                        raise EsError(400, "illegal_argument_exception",
                                      f"invalid action [{action}] defined in phase [{phase}]")
                spec.setdefault("min_age", "0ms")
            previous = self._ilm.get(name)
            version = previous["version"] + 1 if previous else 1
            self._ilm[name] = {"version": version, "modified_date": _iso_now(), "policy": policy}
            return 200, {"acknowledged": True}
        raise EsError(405, "illegal_argument_exception", f"{method} not allowed on _ilm/policy")

    def _ilm_entry(self, name: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        using = [i.name for i in self._indices.values() if i.settings.get("index.lifecycle.name") == name]
        data_streams = sorted({i.data_stream for i in self._indices.values() if i.name in using and i.data_stream})
        templates = [n for n, t in self._index_templates.items()
                     if self._composed(t)[0].get("index.lifecycle.name") == name]
        return {**stored, "in_use_by": {"indices": using, "data_streams": data_streams,
                                        "composable_templates": templates}}

    def _slm_api(self, method: str, rest: list[str], body: Any, query: dict[str, str]) -> tuple[int, Any]:
        if not rest or rest[0] != "policy":
            raise EsError(400, "illegal_argument_exception", f"unsupported _slm endpoint {rest}")
        name = rest[1] if len(rest) > 1 else "*"
        if method == "GET":
            found = {n: p for n, p in sorted(self._slm.items()) if fnmatch.fnmatchcase(n, name)}
            if not found and len(rest) > 1:
                raise EsError(404, "resource_not_found_exception",
                              f"snapshot lifecycle policy or policies [{name}] not found, no policies are configured"
                              if not self._slm else f"snapshot lifecycle policy or policies [{name}] not found")
            return 200, found
        if method == "DELETE":
            self._delete_named(self._slm, name, "snapshot lifecycle policy or policies")
            return 200, {"acknowledged": True}
        if method == "PUT" and len(rest) == 2:
            if not isinstance(body, Mapping):
                raise EsError(400, "parse_exception", "request body is required")
            problems = [f"{key} is missing" for key in ("schedule", "name", "repository") if not body.get(key)]
            if problems:
                raise EsError(400, "action_request_validation_exception",
                              "Validation Failed: " + "".join(f"{i + 1}: {p};" for i, p in enumerate(problems)))
            if body["repository"] not in self._repositories:
                raise EsError(400, "illegal_argument_exception", f"no such repository [{body['repository']}]")
            previous = self._slm.get(name)
            self._slm[name] = {
                "version": previous["version"] + 1 if previous else 1,
                "modified_date_millis": _now_millis(),
                "policy": dict(body),
                "next_execution_millis": _now_millis() + 86_400_000,
                "stats": {"policy": name, "snapshots_taken": 0, "snapshots_failed": 0, "snapshots_deleted": 0,
                          "snapshot_deletion_failures": 0},
            }
            return 200, {"acknowledged": True}
        if method == "POST" and len(rest) == 3 and rest[2] == "_execute" and rest[1] in self._slm:
            stored = self._slm[rest[1]]
            stored["stats"]["snapshots_taken"] += 1
            return 200, {"snapshot_name": f"{rest[1]}-{_now_millis()}"}
        raise EsError(405, "illegal_argument_exception", f"{method} not allowed on _slm/policy")

    def _snapshot_api(self, method: str, rest: list[str], body: Any, query: dict[str, str]) -> tuple[int, Any]:
        if len(rest) == 2:
            return self._snapshot(method, rest[0], rest[1], body, query)
        name = rest[0] if rest else "*"
        if method == "GET":
            found = {n: r for n, r in self._repositories.items() if fnmatch.fnmatchcase(n, name)}
            if not found and rest and "*" not in name:
                raise EsError(404, "repository_missing_exception", f"[{name}] missing")
            return 200, found
        if method in ("PUT", "POST") and len(rest) == 1:
            if not isinstance(body, Mapping) or "type" not in body:
                raise EsError(400, "action_request_validation_exception", "Validation Failed: 1: type is missing;")
            self._check_repository(name, body)
            self._repositories[name] = dict(body)
            return 200, {"acknowledged": True}
        if method == "DELETE" and len(rest) == 1:
            self._delete_named(self._repositories, name, "repository")
            return 200, {"acknowledged": True}
        raise EsError(405, "illegal_argument_exception", f"{method} not allowed on _snapshot")

    def _snapshot(self, method: str, repository: str, name: str, body: Any,
                  query: dict[str, str]) -> tuple[int, Any]:
        """``PUT|POST _snapshot/<repository>/<snapshot>`` (create; the answer carries the snapshot with
        ``wait_for_completion=true``, else ``{"accepted": true}``) and ``GET`` (one name, or ``*`` / ``_all``)."""
        if repository not in self._repositories:
            raise EsError(404, "repository_missing_exception", f"[{repository}] missing")
        taken = self._snapshots.setdefault(repository, {})
        if method == "GET":
            if name in ("_all", "*"):
                found = [s["info"] for s in taken.values()]
            elif name not in taken:
                raise EsError(404, "snapshot_missing_exception", f"[{repository}:{name}] is missing")
            else:
                found = [taken[name]["info"]]
            return 200, {"snapshots": found, "total": len(found), "remaining": 0}
        if method == "DELETE":
            if name not in taken:
                raise EsError(404, "snapshot_missing_exception", f"[{repository}:{name}] is missing")
            del taken[name]
            return 200, {"acknowledged": True}
        if method not in ("PUT", "POST"):
            raise EsError(405, "illegal_argument_exception", f"{method} not allowed on _snapshot/{repository}/{name}")
        if name != name.lower() or any(c in _INVALID_INDEX_CHARS for c in name):
            raise EsError(400, "invalid_snapshot_name_exception",
                          f"[{repository}:{name}] Invalid snapshot name [{name}], must be lowercase")
        if name in taken:
            raise EsError(400, "invalid_snapshot_name_exception", f"[{repository}:{name}] Invalid snapshot name "
                          f"[{name}], snapshot with the same name already exists")
        spec = body if isinstance(body, Mapping) else {}
        unknown = set(spec) - {"indices", "ignore_unavailable", "include_global_state", "partial", "metadata",
                               "feature_states", "expand_wildcards"}
        if unknown:
            raise EsError(400, "illegal_argument_exception", f"Unknown parameter {sorted(unknown)[0]}")
        expression = spec.get("indices", "*")
        if isinstance(expression, list):
            expression = ",".join(expression)
        indices = self._resolve(expression, allow_missing=spec.get("ignore_unavailable") is True)
        fault = self._snapshot_faults.popleft() if self._snapshot_faults else None
        if fault is not None and fault.status != 200:
            raise EsError(fault.status, "snapshot_exception", f"[{repository}:{name}] {fault.reason}")
        started = _now_millis()
        state = fault.type if fault is not None else "SUCCESS"
        failed = len(indices) if state == "FAILED" else min(1, len(indices)) if state == "PARTIAL" else 0
        info = {
            "snapshot": name, "uuid": secrets.token_urlsafe(16), "repository": repository,
            "version_id": 8_519_000, "version": VERSIONS[self.major],
            "indices": sorted(i.name for i in indices),
            "data_streams": sorted({i.data_stream for i in indices if i.data_stream}),
            "include_global_state": bool(spec.get("include_global_state", True)),
            "metadata": spec.get("metadata"), "state": state,
            "start_time": _iso_now(), "start_time_in_millis": started, "end_time": _iso_now(),
            "end_time_in_millis": _now_millis(), "duration_in_millis": _now_millis() - started,
            "failures": [{"index": i.name, "shard_id": 0, "reason": fault.reason, "status": "INTERNAL_SERVER_ERROR"}
                         for i in indices[:failed]] if fault is not None else [],
            "shards": {"total": len(indices), "failed": failed, "successful": len(indices) - failed},
            "feature_states": [],
        }
        if state == "FAILED":
            info["reason"] = fault.reason if fault is not None else "failed"
        taken[name] = {"info": info, "docs": {i.name: [dict(d) for d in i.docs.values()] for i in indices}}
        if query.get("wait_for_completion") == "true":
            return 200, {"snapshot": info}
        return 200, {"accepted": True}

    def _check_repository(self, name: str, body: Mapping[str, Any]) -> None:
        """What registering a repository verifies: a known type, and an ``fs`` location under ``path.repo``."""
        kind = body["type"]
        if kind not in ("fs", "url", "source", "s3", "gcs", "azure"):
            raise EsError(500, "repository_exception", f"[{name}] repository type [{kind}] does not exist")
        if kind != "fs":
            return
        location = str((body.get("settings") or {}).get("location", ""))
        if not location:
            raise EsError(500, "repository_exception", f"[{name}] missing location")
        if not self.path_repo:
            raise EsError(500, "repository_exception", f"[{name}] location [{location}] doesn't match any of the "
                          "locations specified by path.repo because this setting is empty")
        resolved = location if location.startswith("/") else f"{self.path_repo[0].rstrip('/')}/{location}"
        if not any(resolved == root or resolved.startswith(root.rstrip("/") + "/") for root in self.path_repo):
            raise EsError(500, "repository_exception", f"[{name}] location [{location}] doesn't match any of the "
                          f"locations specified by path.repo: {list(self.path_repo)}")

    def _data_stream_api(self, method: str, rest: list[str], body: Any, query: dict[str, str]) -> tuple[int, Any]:
        name = rest[0] if rest else "*"
        streams = [ds for ds in self._data_streams.values()
                   if any(fnmatch.fnmatchcase(ds.name, p) for p in name.split(","))]
        if not streams and rest and "*" not in name:
            raise EsError(404, "index_not_found_exception", f"no such index [{name}]")
        if method == "GET":
            out = []
            for ds in streams:
                write = self._indices[ds.indices[-1]]
                out.append({
                    "name": ds.name,
                    "timestamp_field": {"name": "@timestamp"},
                    "indices": [{"index_name": n, "index_uuid": self._indices[n].uuid} for n in ds.indices],
                    "generation": ds.generation,
                    "status": "GREEN",
                    "template": ds.template,
                    "ilm_policy": write.settings.get("index.lifecycle.name"),
                    "hidden": False,
                    "system": False,
                })
            return 200, {"data_streams": out}
        if method == "DELETE":
            for ds in streams:
                for n in ds.indices:
                    del self._indices[n]
                del self._data_streams[ds.name]
            return 200, {"acknowledged": True}
        raise EsError(405, "illegal_argument_exception", f"{method} not allowed on _data_stream")


# -- helpers for mapping and search -------------------------------------------------------------------

def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str) and _DATE_RE.match(value) and parse_date(value) is not None:
        return "date"  # date_detection is on by default
    return "keyword"


def _fits(ftype: str, value: Any) -> bool:
    """Whether a concrete value can be indexed into a field of this type."""
    if ftype in _NUMERIC or ftype in _FLOATS:
        return _numeric(value, ftype in _FLOATS)
    if ftype in ("date", "date_nanos"):
        return parse_date(value) is not None
    if ftype == "boolean":
        return value in (True, False, "true", "false", "")
    return True


def _numeric(value: Any, floats: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return floats or float(value).is_integer()
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return False
        return floats or number.is_integer()
    return False


def _sort_value(values: list[Any] | None) -> tuple[int, Any]:
    if not values:
        return (1, "")
    v = values[0]
    if isinstance(v, str) and (ns := parse_date(v)) is not None and _DATE_RE.match(v):
        return (0, ns)
    return (0, v)


def _sort_key(name: str) -> Callable[[tuple[Any, str, dict[str, Any]]], tuple[int, Any]]:
    def key(hit: tuple[Any, str, dict[str, Any]]) -> tuple[int, Any]:
        return _sort_value(_flatten_doc(hit[2]).get(name))

    return key


_LUCENE_TOKEN_RE = re.compile(r'[^\s"]+"[^"]*"|"[^"]*"|\S+')


def _lucene(text: str) -> dict[str, Any]:
    """The subset of the ``query_string`` (Lucene) syntax dashboards use: ``field:value``,
    ``field:"a phrase"``, ``field:>=N`` (also >, <, <=), ``*``, bare words, ``AND`` / ``OR`` / ``NOT`` (OR is
    the default operator, AND binds tighter, as in Elasticsearch). Parentheses are refused."""
    if "(" in text or ")" in text:
        raise EsError(400, "query_shard_exception", f"Failed to parse query [{text}]: parentheses are not "
                      "supported by this stand-in")
    tokens = _LUCENE_TOKEN_RE.findall(text.strip())
    if not tokens or tokens == ["*"]:
        return {"match_all": {}}
    groups: list[list[dict[str, Any]]] = [[]]
    negate = False
    joined_by_and = False
    for token in tokens:
        if token == "OR":
            joined_by_and = False
            continue
        if token == "AND":
            joined_by_and = True
            continue
        if token == "NOT":
            negate = True
            continue
        clause = _lucene_term(token)
        if negate:
            clause = {"bool": {"must_not": [clause]}}
            negate = False
        if joined_by_and or not groups[-1]:
            groups[-1].append(clause)
        else:
            groups.append([clause])
        joined_by_and = False
    should = [g[0] if len(g) == 1 else {"bool": {"must": g}} for g in groups if g]
    return should[0] if len(should) == 1 else {"bool": {"should": should, "minimum_should_match": 1}}


def _lucene_term(token: str) -> dict[str, Any]:
    field_name, sep, value = token.partition(":")
    if not sep:
        return {"multi_match": {"query": token.strip('"')}}
    for op, name in ((">=", "gte"), ("<=", "lte"), (">", "gt"), ("<", "lt")):
        if value.startswith(op):
            number = value[len(op):]
            return {"range": {field_name: {name: float(number) if number.replace(".", "", 1).isdigit() else number}}}
    if value == "*":
        return {"exists": {"field": field_name}}
    if value.startswith('"') and value.endswith('"'):
        return {"match_phrase": {field_name: value[1:-1]}}
    return {"match": {field_name: value}}


def _aggregate(specs: Mapping[str, Any], hits: list[dict[str, list[Any]]]) -> dict[str, Any]:
    """``aggs``: ``terms`` (nested to any depth, ordered by ``_count`` or ``_key``), ``value_count``, ``max``,
    ``min``, ``cardinality``, over the flattened matching documents."""
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        sub = spec.get("aggs") or spec.get("aggregations") or {}
        kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
        if len(kinds) != 1:
            raise EsError(400, "parsing_exception", f"Expected one aggregation type for [{name}], got {kinds}")
        kind, params = kinds[0], spec[kinds[0]]
        if kind == "terms":
            field_name = params["field"]
            groups: dict[Any, list[dict[str, list[Any]]]] = {}
            for doc in hits:
                for value in dict.fromkeys(_field_values(doc, field_name)):
                    groups.setdefault(value, []).append(doc)
            minimum = int(params.get("min_doc_count", 1))
            order = params.get("order", {"_count": "desc"})
            order = order[0] if isinstance(order, list) else order
            (order_key, direction), = order.items()
            items = [(k, docs) for k, docs in groups.items() if len(docs) >= minimum]
            if order_key == "_key":
                items.sort(key=lambda kv: _sort_value([kv[0]]), reverse=direction == "desc")
            else:
                items.sort(key=lambda kv: _sort_value([kv[0]]))
                items.sort(key=lambda kv: len(kv[1]), reverse=direction == "desc")
            size = int(params.get("size", 10))
            shown = items[:size]
            out[name] = {
                "doc_count_error_upper_bound": 0,
                "sum_other_doc_count": sum(len(d) for _, d in items[size:]),
                "buckets": [{"key": k, "doc_count": len(d), **_aggregate(sub, d)} for k, d in shown],
            }
        elif kind == "date_histogram":
            interval = params.get("fixed_interval") or params.get("interval") or "1m"
            step = int(_duration_millis(interval))
            by_time: dict[int, list[dict[str, list[Any]]]] = {}
            for doc in hits:
                for value in _field_values(doc, params["field"])[:1]:
                    nanos = parse_date(value)
                    if nanos is not None:
                        key = nanos // 1_000_000 // step * step
                        by_time.setdefault(key, []).append(doc)
            minimum = int(params.get("min_doc_count", 0))
            keys = range(min(by_time), max(by_time) + step, step) if by_time else range(0)
            out[name] = {"buckets": [
                {"key_as_string": str(k), "key": k, "doc_count": len(by_time.get(k, [])),
                 **_aggregate(sub, by_time.get(k, []))}
                for k in keys if len(by_time.get(k, [])) >= minimum]}
        elif kind in ("value_count", "max", "min", "cardinality"):
            values = [v for doc in hits for v in _field_values(doc, params["field"])]
            numbers = [(ns / 1e6 if (ns := parse_date(v)) is not None else v) if isinstance(v, str) else v
                       for v in values]
            result: Any = {"value_count": len(values), "cardinality": len(set(map(str, values))),
                           "max": max(numbers, default=None), "min": min(numbers, default=None)}[kind]
            out[name] = {"value": result}
        else:
            raise EsError(400, "x_content_parse_exception", f"Unknown aggregation type [{kind}] (not in this "
                          "stand-in)")
    return out


def _duration_millis(text: str) -> float:
    """An Elasticsearch time unit (``30s``, ``1m``, ``1h``, ``1d``, ``500ms``) in milliseconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    if m is None:
        raise EsError(400, "illegal_argument_exception", f"failed to parse setting [date_histogram.fixedInterval] "
                      f"with value [{text}] as a time value")
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2)]


def _query_string(q: str) -> dict[str, Any]:
    field_name, sep, value = q.partition(":")
    return {"match": {field_name: value}} if sep else {"multi_match": {"query": q}}


Matcher = Callable[[dict[str, list[Any]], str], bool]


def _field_values(doc: Mapping[str, list[Any]], name: str) -> list[Any]:
    if name in doc:
        return doc[name]
    if name.endswith(".keyword") and name[: -len(".keyword")] in doc:
        return doc[name[: -len(".keyword")]]
    return []


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    if isinstance(a, int | float) or isinstance(b, int | float):
        try:
            return bool(float(a) == float(b))
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _tokens(text: Any) -> set[str]:
    return set(re.findall(r"\w+", str(text).lower()))


def _single(spec: Mapping[str, Any], kind: str) -> tuple[str, Any]:
    if len(spec) != 1:
        raise EsError(400, "parsing_exception", f"[{kind}] query doesn't support multiple fields")
    return next(iter(spec.items()))


def _compile(query: Mapping[str, Any]) -> Matcher:
    if not isinstance(query, Mapping) or len(query) != 1:
        raise EsError(400, "parsing_exception", "query malformed, must start with a single query name")
    kind, spec = next(iter(query.items()))
    if kind == "match_all":
        return lambda doc, _id: True
    if kind == "match_none":
        return lambda doc, _id: False
    if kind == "ids":
        wanted = set(spec.get("values", []))
        return lambda doc, doc_id: doc_id in wanted
    if kind == "exists":
        name = spec["field"]
        prefix = name + "."
        return lambda doc, _id: bool(_field_values(doc, name)) or any(k.startswith(prefix) for k in doc)
    if kind == "term":
        name, value = _single(spec, kind)
        value = value.get("value") if isinstance(value, Mapping) else value
        return lambda doc, _id: any(_equal(v, value) for v in _field_values(doc, name))
    if kind == "terms":
        name, values = _single(spec, kind)
        return lambda doc, _id: any(_equal(v, w) for v in _field_values(doc, name) for w in values)
    if kind == "prefix":
        name, value = _single(spec, kind)
        value = value.get("value") if isinstance(value, Mapping) else value
        return lambda doc, _id: any(str(v).startswith(str(value)) for v in _field_values(doc, name))
    if kind in ("match", "match_phrase"):
        name, value = _single(spec, kind)
        value = value.get("query") if isinstance(value, Mapping) else value

        def match(doc: dict[str, list[Any]], _id: str) -> bool:
            for v in _field_values(doc, name):
                if _equal(v, value):
                    return True
                if isinstance(v, str) and isinstance(value, str):
                    if kind == "match_phrase" and value.lower() in v.lower():
                        return True
                    if kind == "match" and _tokens(v) & _tokens(value):
                        return True
            return False

        return match
    if kind == "query_string":
        return _compile(_lucene(spec.get("query", "*")))
    if kind == "multi_match":
        text = spec.get("query", "")
        return lambda doc, _id: any(_tokens(v) & _tokens(text) for vs in doc.values() for v in vs)
    if kind == "range":
        name, bounds = _single(spec, kind)

        def in_range(doc: dict[str, list[Any]], _id: str) -> bool:
            for v in _field_values(doc, name):
                key = parse_date(v) if isinstance(v, str) else v
                if key is None:
                    continue
                ok = True
                for op, bound in bounds.items():
                    if op not in ("gt", "gte", "lt", "lte"):
                        continue
                    b = parse_date(bound) if isinstance(v, str) else bound  # date: ISO or epoch_millis
                    if b is None:
                        ok = False
                    elif op == "gt":
                        ok = ok and key > b
                    elif op == "gte":
                        ok = ok and key >= b
                    elif op == "lt":
                        ok = ok and key < b
                    else:
                        ok = ok and key <= b
                if ok:
                    return True
            return False

        return in_range
    if kind == "bool":
        def clauses(key: str) -> list[Matcher]:
            value = spec.get(key, [])
            return [_compile(q) for q in (value if isinstance(value, list) else [value])]

        must = clauses("must") + clauses("filter")
        should, must_not = clauses("should"), clauses("must_not")
        minimum = int(spec.get("minimum_should_match", 0 if must else 1 if should else 0))

        def boolean(doc: dict[str, list[Any]], doc_id: str) -> bool:
            return (all(m(doc, doc_id) for m in must)
                    and not any(m(doc, doc_id) for m in must_not)
                    and sum(1 for m in should if m(doc, doc_id)) >= minimum)

        return boolean
    raise EsError(400, "parsing_exception", f"unknown query [{kind}]", line=1, col=13)

