"""The `cluster:` key: forms, errors at file:line:col, node from ${ENV}, the config hash, vantages."""

from __future__ import annotations

import pytest

from netwatch.config import ConfigError, loads
from netwatch.config.cluster import config_hash

BASE = """
site: {name: Đại hội}
targets:
  - id: portal
    host: 127.0.0.1
    checks:
      - kind: tcp
        port: 443
"""


def load(text: str, env: dict[str, str] | None = None) -> object:
    return loads(BASE + text, "venue.yaml", env or {})


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, env)
    return [str(p) for p in caught.value.problems]


def test_without_cluster_nothing_changes() -> None:
    config = loads(BASE, "venue.yaml", {})
    assert config.cluster is None and config.store.backend == "sqlite"     # type: ignore[attr-defined]


def test_cluster_key_with_node_from_the_environment_and_the_store_taken_from_dsn() -> None:
    config = load("""
cluster:
  dsn: postgresql://nw:${PGPASS}@127.0.0.55:5432/netwatch
  node: ${NETWATCH_NODE}
  site: dc
  sites: {dc: {anchors: [127.0.0.51, venue-gw]}, venue: {anchors: [127.0.0.55]}}
  lease_ttl: 6s
  lease_renew: 1s
  fence_margin: 2s
""", {"PGPASS": "pw-very-secret", "NETWATCH_NODE": "dc-1"})
    c = config.cluster  # type: ignore[attr-defined]
    assert (c.node, c.site, c.timing.ttl_seconds, c.timing.renew_seconds, c.slots) == ("dc-1", "dc", 6, 1, 256)
    assert c.sites["dc"].anchors == ("127.0.0.51", "venue-gw")
    assert c.dsn.url == "postgresql://nw@127.0.0.55:5432/netwatch" and c.dsn.password_text() == "pw-very-secret"
    assert config.store == c.dsn                                           # type: ignore[attr-defined]
    # the node name is not a secret: it stays readable in logs; the password does not
    assert config.redact("dc-1 pw-very-secret") == "dc-1 ********"         # type: ignore[attr-defined]


def test_every_node_of_one_shared_file_has_the_same_hash() -> None:
    text = """
listen: 127.0.0.1:{port}
cluster: {{dsn: "postgresql://nw@db/netwatch", node: "${{NODE}}", site: {site}, sites: {{dc: {{}}, venue: {{}}}}}}
"""
    one = load(text.format(port=9800, site="dc"), {"NODE": "dc-1"}).cluster  # type: ignore[attr-defined]
    two = load(text.format(port=9900, site="venue"), {"NODE": "venue-1"}).cluster  # type: ignore[attr-defined]
    assert one.config_hash == two.config_hash and len(one.config_hash) == 64
    other = load(text.format(port=9800, site="dc").replace("venue: {}", "venue: {}, pop: {}"),
                 {"NODE": "dc-1"}).cluster  # type: ignore[attr-defined]
    assert other.config_hash != one.config_hash


def test_hash_ignores_secret_values_and_formatting() -> None:
    a = {"cluster": {"node": "a", "dsn": "postgresql://nw:${PW}@db/x"}, "targets": [{"id": "t"}]}
    b = {"targets": [{"id": "t"}], "cluster": {"dsn": "postgresql://nw:${PW}@db/x", "node": "b"}}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "targets": [{"id": "u"}]})


@pytest.mark.parametrize("text, expected", [
    ("cluster: {node: dc-1, site: dc}\n",
     "venue.yaml:9:1: cluster.dsn: give the cluster's postgresql:// URL here or as store:"),
    ("cluster: {dsn: /var/lib/netwatch.db, node: dc-1, site: dc}\n",
     "venue.yaml:9:11: cluster.dsn: the cluster needs a postgresql:// URL (or {url: ..., password_file: PATH})"),
    ("store: /var/lib/netwatch.db\ncluster: {dsn: 'postgresql://nw@db/x', node: dc-1, site: dc}\n",
     "venue.yaml:9:1: store: in cluster mode the history lives in the cluster's PostgreSQL: give the same URL "
     "as cluster.dsn or leave store: out"),
    ("cluster: {dsn: 'postgresql://nw@db/x', node: dc-1, site: moon, sites: {dc: {}}}\n",
     "venue.yaml:9:52: cluster.site: unknown site 'moon' (sites: dc)"),
    ("cluster: {dsn: 'postgresql://nw@db/x', node: '${NODE}', site: dc}\n",
     "venue.yaml:9:40: cluster.node: environment variable NODE is not set"),
    ("cluster: {dsn: 'postgresql://nw@db/x', node: dc-1, site: dc, lease_ttl: 6s, lease_renew: 3s}\n",
     "venue.yaml:9:77: cluster.lease_renew: lease_renew must be at most half of (lease_ttl - fence_margin)"),
    ("cluster: {dsn: 'postgresql://nw@db/x', node: 'dc 1', site: dc}\n",
     "venue.yaml:9:40: cluster.node: bad node name 'dc 1': use letters, digits, '.', '_' or '-'"),
])
def test_cluster_errors(text: str, expected: str) -> None:
    assert expected in errors(text), errors(text)


def test_vantage_and_confirm() -> None:
    text = BASE.replace("        port: 443\n", "        port: 443\n        vantage: [dc, venue, pop]\n        confirm: 2\n")
    config = loads(text + "cluster: {dsn: 'postgresql://nw@db/x', node: dc-1, site: dc, "
                          "sites: {dc: {}, venue: {}, pop: {}}}\n", "venue.yaml", {})
    [check] = config.checks
    assert (check.vantage, check.confirm) == (("dc", "venue", "pop"), 2)
    bad = BASE.replace("        port: 443\n", "        port: 443\n        vantage: [dc, mars]\n        confirm: 3\n")
    with pytest.raises(ConfigError) as caught:
        loads(bad + "cluster: {dsn: 'postgresql://nw@db/x', node: dc-1, site: dc, sites: {dc: {}}}\n", "v.yaml", {})
    text_errors = [str(p) for p in caught.value.problems]
    assert "v.yaml:10:9: targets[0].checks[0].confirm: must be between 1 and the number of vantages (2)" \
        in text_errors, text_errors
    with pytest.raises(ConfigError) as caught:
        loads(bad.replace("confirm: 3", "confirm: 1") + "cluster: {dsn: 'postgresql://nw@db/x', node: dc-1, "
              "site: dc, sites: {dc: {}}}\n", "v.yaml", {})
    assert [str(p) for p in caught.value.problems] == [
        "v.yaml:9:23: targets[0].checks[0].vantage[1]: unknown site 'mars' (sites: dc)"]


def test_a_channel_timeout_must_fit_in_the_coordinator_lease() -> None:
    channel = "channels: {chat: {urls: ['json://127.0.0.1:9/x'], timeout: 5s}}\n"
    cluster = "cluster: {dsn: 'postgresql://nw@db/x', node: dc-1, site: dc, lease_ttl: 6s, lease_renew: 1s}\n"
    assert ("venue.yaml:9:51: channels.chat.timeout: in cluster mode a channel's timeout (5s) must be shorter than "
            "lease_ttl - fence_margin - lease_renew (3s): a send starts only while the coordinator's lease "
            "outlives it") in errors(channel + cluster)
    # the defaults fit the channels' default timeout (10 s)
    config = load("channels: {chat: {urls: ['json://127.0.0.1:9/x']}}\n"
                  "cluster: {dsn: 'postgresql://nw@db/x', node: dc-1, site: dc}\n")
    timing = config.cluster.timing  # type: ignore[attr-defined]
    assert (timing.ttl_seconds, timing.renew_seconds, timing.margin_seconds) == (15, 2, 2)
