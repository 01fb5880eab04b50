"""How Elasticsearch answers its REST API, as the stand-in must answer too. Each case talks through the official
client over HTTP; `test_server.py` runs them against the stand-in and `tests/integration/test_elasticsearch.py`
against a real cluster — which is how the stand-in is kept honest.

Every case names what it creates after its token and deletes it afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from elasticsearch import ApiError, Elasticsearch

Connect = Callable[[], Elasticsearch]

MAPPING_ERRORS = {"document_parsing_exception", "mapper_parsing_exception"}  # 8.x+ / 7.x names


@contextmanager
def _data_stream_template(es: Elasticsearch) -> Iterator[str]:
    """An index template making ``<token>-*`` data streams; yields the token."""
    token = "conf" + secrets.token_hex(4)
    es.indices.put_index_template(name=token, index_patterns=[f"{token}-*"], data_stream={}, priority=900,
                                  template={"mappings": {"properties": {"n": {"type": "long"}}}})
    try:
        yield token
    finally:
        with suppress(ApiError):
            es.indices.delete_data_stream(name=f"{token}-*")
        with suppress(ApiError):
            es.indices.delete_index_template(name=token)


def _ndjson(*lines: dict[str, Any]) -> list[dict[str, Any]]:
    return list(lines)


def bulk_reports_each_item_and_keeps_the_good_ones(connect: Connect) -> None:
    with connect() as es, _data_stream_template(es) as token:
        stream = f"{token}-a"
        answer = es.bulk(operations=_ndjson(
            {"create": {"_index": stream}}, {"@timestamp": "2024-05-01T10:00:00.123456789Z", "n": 1},
            {"create": {"_index": stream}}, {"n": 2},  # no @timestamp
            {"create": {"_index": stream}}, {"@timestamp": "2024-05-01T10:00:01Z", "n": "not a number"},
            {"index": {"_index": stream}}, {"@timestamp": "2024-05-01T10:00:02Z", "n": 4},  # data streams: create only
            {"create": {"_index": stream}}, {"@timestamp": "2024-05-01T10:00:03Z", "n": 5},
        ))

        assert answer.meta.status == 200
        assert answer["errors"] is True
        items = [next(iter(item.items())) for item in answer["items"]]
        assert [op for op, _ in items] == ["create", "create", "create", "index", "create"]
        statuses = [result["status"] for _, result in items]
        assert statuses == [201, 400, 400, 400, 201]
        assert items[0][1]["_index"].startswith(f".ds-{stream}-")
        assert items[1][1]["error"]["type"] in MAPPING_ERRORS
        assert "@timestamp" in items[1][1]["error"]["reason"]
        assert items[2][1]["error"]["type"] in MAPPING_ERRORS
        assert items[3][1]["error"]["type"] == "illegal_argument_exception"

        es.indices.refresh(index=stream)
        hits = es.search(index=stream, query={"match_all": {}})["hits"]
        assert hits["total"] == {"value": 2, "relation": "eq"}
        assert sorted(h["_source"]["n"] for h in hits["hits"]) == [1, 5]


def create_with_an_existing_id_is_a_version_conflict(connect: Connect) -> None:
    with connect() as es, _data_stream_template(es) as token:
        doc = {"@timestamp": "2024-05-01T10:00:00Z", "n": 1}
        first = es.bulk(operations=[{"create": {"_index": f"{token}-a", "_id": "same"}}, doc])
        second = es.bulk(operations=[{"create": {"_index": f"{token}-a", "_id": "same"}}, doc])

        assert first["items"][0]["create"]["status"] == 201
        assert second["items"][0]["create"]["status"] == 409
        assert second["items"][0]["create"]["error"]["type"] == "version_conflict_engine_exception"


def object_and_value_conflicts_are_mapping_errors(connect: Connect) -> None:
    with connect() as es, _data_stream_template(es) as token:
        answer = es.bulk(operations=[
            {"create": {"_index": f"{token}-a"}}, {"@timestamp": "2024-05-01T10:00:00Z", "user": "bob"},
            {"create": {"_index": f"{token}-a"}}, {"@timestamp": "2024-05-01T10:00:01Z", "user.id": 7},
            {"create": {"_index": f"{token}-a"}}, {"@timestamp": "2024-05-01T10:00:02Z", "user": {"name": "x"}},
        ])

        statuses = [item["create"]["status"] for item in answer["items"]]
        assert statuses == [201, 400, 400]
        assert {item["create"]["error"]["type"] for item in answer["items"][1:]} <= MAPPING_ERRORS


def search_filters_with_term_bool_and_range(connect: Connect) -> None:
    with connect() as es, _data_stream_template(es) as token:
        ops: list[dict[str, Any]] = []
        for n in range(5):
            ops += [{"create": {"_index": f"{token}-a"}},
                    {"@timestamp": f"2024-05-01T10:00:0{n}Z", "n": n, "kind": "even" if n % 2 == 0 else "odd",
                     "message": f"request number {n} done"}]
        es.bulk(operations=ops, refresh=True)

        def ns(query: dict[str, Any]) -> list[int]:
            hits = es.search(index=f"{token}-*", query=query, size=100)["hits"]["hits"]
            return sorted(h["_source"]["n"] for h in hits)

        assert ns({"term": {"kind": "even"}}) == [0, 2, 4]
        assert ns({"bool": {"filter": [{"term": {"kind": "even"}}, {"range": {"n": {"gt": 0}}}]}}) == [2, 4]
        assert ns({"bool": {"must_not": [{"terms": {"n": [0, 1]}}]}}) == [2, 3, 4]
        assert ns({"range": {"@timestamp": {"gte": "2024-05-01T10:00:03Z"}}}) == [3, 4]
        assert ns({"match": {"message": "number 3"}}) == [0, 1, 2, 3, 4]  # any term matches
        assert ns({"match_phrase": {"message": "number 3"}}) == [3]
        assert es.count(index=f"{token}-*", query={"term": {"kind": "odd"}})["count"] == 2
        first = es.search(index=f"{token}-*", sort=[{"n": {"order": "desc"}}], size=1)["hits"]["hits"]
        assert first[0]["_source"]["n"] == 4


def filter_path_trims_the_answer(connect: Connect) -> None:
    with connect() as es, _data_stream_template(es) as token:
        answer = es.bulk(
            operations=[{"create": {"_index": f"{token}-a"}}, {"@timestamp": "2024-05-01T10:00:00Z"}],
            filter_path="errors,items.*.status,items.*.error.type",
        )
        assert answer.body == {"errors": False, "items": [{"create": {"status": 201}}]}


def templates_and_policies_are_stored_and_missing_ones_are_404(connect: Connect) -> None:
    token = "conf" + secrets.token_hex(4)
    with connect() as es:
        try:
            lookups: list[Callable[[], object]] = [
                lambda: es.ilm.get_lifecycle(name=f"{token}-none"),
                lambda: es.indices.get_index_template(name=f"{token}-none"),
                lambda: es.cluster.get_component_template(name=f"{token}-none"),
            ]
            for call in lookups:
                try:
                    call()
                except ApiError as exc:
                    assert exc.meta.status == 404
                    assert exc.body["error"]["type"] == "resource_not_found_exception"
                else:
                    raise AssertionError("a missing resource must be a 404")

            try:
                es.indices.put_index_template(name=f"{token}-bad", index_patterns=[f"{token}-bad-*"],
                                              composed_of=[f"{token}-missing"], priority=901)
            except ApiError as exc:
                assert exc.meta.status == 400
                assert exc.body["error"]["type"] == "invalid_index_template_exception"
            else:
                raise AssertionError("an index template naming a missing component template must be refused")

            es.cluster.put_component_template(name=f"{token}-c", template={"settings": {"index.codec":
                                                                                       "best_compression"}})
            es.indices.put_index_template(name=f"{token}-t", index_patterns=[f"{token}-t-*"],
                                          composed_of=[f"{token}-c"], priority=902, data_stream={},
                                          meta={"fingerprint": "abc"})
            stored = es.indices.get_index_template(name=f"{token}-t")["index_templates"][0]
            assert stored["name"] == f"{token}-t"
            assert stored["index_template"]["composed_of"] == [f"{token}-c"]
            assert stored["index_template"]["_meta"] == {"fingerprint": "abc"}

            es.ilm.put_lifecycle(name=f"{token}-p", policy={"_meta": {"fingerprint": "x"}, "phases": {
                "hot": {"actions": {"rollover": {"max_age": "1d"}}},
                "delete": {"min_age": "90d", "actions": {"delete": {}}}}})
            got = es.ilm.get_lifecycle(name=f"{token}-p")[f"{token}-p"]
            assert got["version"] == 1
            assert got["policy"]["_meta"] == {"fingerprint": "x"}
            assert got["policy"]["phases"]["hot"]["min_age"] == "0ms"  # filled in by Elasticsearch

            try:
                es.slm.put_lifecycle(policy_id=f"{token}-s", schedule="0 30 1 * * ?", name="<snap-{now/d}>",
                                     repository=f"{token}-no-such-repo", config={"indices": ["logs-*"]})
            except ApiError as exc:
                assert exc.meta.status == 400
                assert "no such repository" in exc.body["error"]["reason"]
            else:
                raise AssertionError("an SLM policy on a missing repository must be refused")
        finally:
            cleanups: list[Callable[[], object]] = [
                lambda: es.indices.delete_index_template(name=f"{token}-t"),
                lambda: es.cluster.delete_component_template(name=f"{token}-c"),
                lambda: es.ilm.delete_lifecycle(name=f"{token}-p"),
            ]
            for cleanup in cleanups:
                with suppress(ApiError):
                    cleanup()


ALL = [
    bulk_reports_each_item_and_keeps_the_good_ones,
    create_with_an_existing_id_is_a_version_conflict,
    object_and_value_conflicts_are_mapping_errors,
    search_filters_with_term_bool_and_range,
    filter_path_trims_the_answer,
    templates_and_policies_are_stored_and_missing_ones_are_404,
]
