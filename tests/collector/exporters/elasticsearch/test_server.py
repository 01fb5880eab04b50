"""The local stand-in answers like Elasticsearch 9: the REST cases (also run against a real cluster), then what
only the stand-in does — scripted faults, restarts that keep data, auth."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from elasticsearch import ApiError, AuthenticationException, Elasticsearch

from tests.servers.elasticsearch import ElasticsearchServer, filter_path, parse_date

from . import rest_cases


@pytest.fixture
def es() -> Iterator[ElasticsearchServer]:
    with ElasticsearchServer(repositories=("backups",)) as server:
        yield server


@pytest.mark.parametrize("case", rest_cases.ALL, ids=lambda c: c.__name__)
def test_rest_case(case: Callable[[rest_cases.Connect], None], es: ElasticsearchServer) -> None:
    case(lambda: Elasticsearch(es.url))


def test_the_official_client_recognises_it(es: ElasticsearchServer) -> None:
    with Elasticsearch(es.url) as client:
        info = client.info()
        answer = client.perform_request("GET", "/", headers={"accept": "application/json"})

    assert info["version"]["number"].startswith("9.")
    assert answer.meta.headers["x-elastic-product"] == "Elasticsearch"


def test_scripted_request_failures_answer_in_elasticsearch_shape(es: ElasticsearchServer) -> None:
    es.fail_requests(429, retry_after=2)
    with Elasticsearch(es.url, max_retries=0) as client, pytest.raises(ApiError) as raised:
        client.bulk(operations=[{"create": {"_index": "logs-a-b"}}, {"@timestamp": "2024-01-01T00:00:00Z"}])

    assert raised.value.meta.status == 429
    assert raised.value.meta.headers["retry-after"] == "2"
    assert raised.value.body["error"]["type"] == "circuit_breaking_exception"


def test_scripted_item_failures_hit_the_next_items_only(es: ElasticsearchServer) -> None:
    es.fail_items(429)
    doc = {"@timestamp": "2024-01-01T00:00:00Z"}
    with Elasticsearch(es.url) as client:
        answer = client.bulk(operations=[{"create": {"_index": "logs-a-b"}}, doc, {"create": {"_index": "logs-a-b"}},
                                         doc])

    assert [i["create"]["status"] for i in answer["items"]] == [429, 201]
    assert answer["items"][0]["create"]["error"]["type"] == "es_rejected_execution_exception"


def test_a_restarted_server_keeps_its_port_and_data(es: ElasticsearchServer) -> None:
    url = es.url
    with Elasticsearch(url) as client:
        client.bulk(operations=[{"create": {"_index": "logs-a-b"}}, {"@timestamp": "2024-01-01T00:00:00Z"}])
    es.stop()
    es.start()

    assert es.url == url
    assert len(es.documents("logs-a-b")) == 1


def test_auth_is_required_when_configured() -> None:
    with ElasticsearchServer(basic_auth=("elastic", "pw")) as server:
        with Elasticsearch(server.url, basic_auth=("elastic", "pw")) as client:
            assert client.info()["tagline"] == "You Know, for Search"
        with Elasticsearch(server.url, basic_auth=("elastic", "wrong")) as client, \
                pytest.raises(AuthenticationException) as raised:
            client.info()

    assert raised.value.body["error"]["type"] == "security_exception"


def test_without_a_data_stream_template_a_plain_index_is_created(es: ElasticsearchServer) -> None:
    with Elasticsearch(es.url) as client:
        answer = client.bulk(operations=[{"index": {"_index": "plain"}}, {"a": 1}])

    assert answer["items"][0]["index"]["_index"] == "plain"
    assert es.documents("plain") == [{"a": 1}]


def test_filter_path() -> None:
    data = {"took": 3, "errors": True, "items": [{"create": {"status": 201, "_id": "x"}},
                                                 {"create": {"status": 400, "error": {"type": "t", "reason": "r"}}}]}

    assert filter_path(data, "errors,items.*.status") == {
        "errors": True, "items": [{"create": {"status": 201}}, {"create": {"status": 400}}]}
    assert filter_path(data, "items.*.error.type") == {"items": [{"create": {"error": {"type": "t"}}}]}
    assert filter_path(data, "**.reason") == {"items": [{"create": {"error": {"reason": "r"}}}]}
    assert filter_path(data, "nothing") == {}


@pytest.mark.parametrize(
    ("value", "nanos"),
    [
        ("2024-05-01T10:00:00Z", 1_714_557_600_000_000_000),
        ("2024-05-01T10:00:00.123456789Z", 1_714_557_600_123_456_789),
        ("2024-05-01T12:00:00+02:00", 1_714_557_600_000_000_000),
        ("2024-05-01", 1_714_521_600_000_000_000),
        (1_714_557_600_000, 1_714_557_600_000_000_000),
        ("yesterday", None),
        ("2024-13-01T00:00:00Z", None),
    ],
)
def test_parse_date(value: object, nanos: int | None) -> None:
    assert parse_date(value) == nanos


def test_an_8x_cluster_refuses_the_9x_clients_compatible_with_9_media_types() -> None:
    with ElasticsearchServer(major=8) as server, Elasticsearch(server.url) as client:
        with pytest.raises(ApiError) as raised:
            client.info()
        plain = client.transport.perform_request("GET", "/", headers={"accept": "application/json"})

    assert raised.value.meta.status == 400
    assert raised.value.body["error"]["type"] == "media_type_header_exception"
    assert plain.body["version"]["number"].startswith("8.")
