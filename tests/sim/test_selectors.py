"""Label and field selectors: parsing, matching and error texts as kube-apiserver reports them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.sim.selectors import (
    FIELD_SELECTORS,
    FieldSelector,
    LabelSelector,
    Requirement,
    SelectorError,
    escape_field_value,
    field_values,
    format_labels,
    label_selector_to_string,
    parse_selector_values,
    supported_field_labels,
    unescape_field_value,
    validate_label_key,
    validate_label_value,
)

QNAME_REGEX_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_REGEX_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


# ------------------------------------------------------------------------------ label selector parse
def test_parse_full_grammar_and_canonical_string():
    sel = LabelSelector.parse("a=b,c!=d,e in (x,y),f notin (z),g,!h,i==j")
    assert [(r.key, r.operator, r.values) for r in sel.requirements] == [
        ("a", "=", ("b",)), ("c", "!=", ("d",)), ("e", "in", ("x", "y")), ("f", "notin", ("z",)),
        ("g", "exists", ()), ("h", "!", ()), ("i", "==", ("j",)),
    ]
    assert str(sel) == "a=b,c!=d,e in (x,y),f notin (z),g,!h,i==j"


@pytest.mark.parametrize(("text", "canonical"), [
    ("tier in (b, a), app = web", "app=web,tier in (a,b)"),  # sorted by key, values sorted, spaces dropped
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),  # empty slots are the "" value
    ("a=", "a="),
    ("a=,b", "a=,b"),
    ("in in (in,notin)", "in in (in,notin)"),  # keywords are identifiers where a key/value is expected
    ("example.com/role!=db", "example.com/role!=db"),
    ("replicas>3,age<10", "age<10,replicas>3"),
    ("  !canary  ", "!canary"),
    ("a in (x,x)", "a in (x)"),
])
def test_parse_normalises(text, canonical):
    assert str(LabelSelector.parse(text)) == canonical


@pytest.mark.parametrize("text", ["", None])
def test_empty_selector_matches_everything(text):
    sel = LabelSelector.parse(text)
    assert sel.is_empty() and not sel.matches_nothing
    assert sel.matches({}) and sel.matches(None) and sel.matches({"a": "b"})
    assert str(sel) == ""


@pytest.mark.parametrize(("text", "message"), [
    ("-a=b", f'unable to parse requirement: <nil>: Invalid value: "-a": {QNAME_REGEX_MSG}'),
    ("app:monolith", f'unable to parse requirement: <nil>: Invalid value: "app:monolith": {QNAME_REGEX_MSG}'),
    ("a=-x", f'unable to parse requirement: values[0][a]: Invalid value: "-x": {VALUE_REGEX_MSG}'),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a==(", "unable to parse requirement: found '(', expected: identifier"),
    ("a>b", "unable to parse requirement: values[0]: Invalid value: \"b\": "
            "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("=b", "found '=', expected: !, identifier, or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
])
def test_parse_errors_match_kube_apiserver(text, message):
    with pytest.raises(SelectorError) as exc:
        LabelSelector.parse(text)
    assert str(exc.value) == message
    assert isinstance(exc.value, ValueError)


def test_key_with_bad_prefix_and_too_many_slashes():
    with pytest.raises(SelectorError, match=r'<nil>: Invalid value: "app\.kubernetes_io/name": prefix part a '
                                            r"lowercase RFC 1123 subdomain"):
        LabelSelector.parse("app.kubernetes_io/name=x")
    with pytest.raises(SelectorError, match=r"a qualified name must consist .* with an optional DNS "
                                            r"subdomain prefix and '/' \(e\.g\. 'example\.com/MyName'\)$"):
        LabelSelector.parse("a/b/c")


def test_long_keys_and_values_are_rejected():
    assert validate_label_key("a" * 63) == []
    assert validate_label_key("a" * 64) == ["name part must be no more than 63 characters"]
    assert validate_label_value("v" * 64) == ["must be no more than 63 characters"]
    assert validate_label_value("") == []
    assert validate_label_key("") == ["name part must be non-empty", QNAME_REGEX_MSG]
    assert validate_label_key("/a") == ["prefix part must be non-empty"]
    with pytest.raises(SelectorError, match="must be no more than 63 characters"):
        LabelSelector.parse("k=" + "v" * 64)


# ----------------------------------------------------------------------------- label selector match
@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("app=web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app=web", {}, False),
    ("app==web", {"app": "web", "x": "y"}, True),
    ("app!=web", {"app": "db"}, True),
    ("app!=web", {}, True),  # != and notin also match objects without the label
    ("app!=web", {"app": "web"}, False),
    ("tier in (fe,be)", {"tier": "be"}, True),
    ("tier in (fe,be)", {"tier": "db"}, False),
    ("tier in (fe,be)", {}, False),
    ("tier notin (fe,be)", {"tier": "db"}, True),
    ("tier notin (fe,be)", {}, True),
    ("tier notin (fe,be)", {"tier": "fe"}, False),
    ("canary", {"canary": ""}, True),
    ("canary", {}, False),
    ("!canary", {}, True),
    ("!canary", {"canary": "true"}, False),
    ("a=", {"a": ""}, True),
    ("a in ()", {"a": ""}, True),
    ("a in ()", {}, False),
    ("n>3", {"n": "4"}, True),
    ("n>3", {"n": "3"}, False),
    ("n<3", {"n": "-1"}, True),
    ("n>3", {"n": "four"}, False),  # a non-integer label never satisfies an inequality
    ("n>3", {}, False),
    ("app=web,tier in (fe),!canary", {"app": "web", "tier": "fe"}, True),
    ("app=web,tier in (fe),!canary", {"app": "web", "tier": "fe", "canary": "1"}, False),
])
def test_label_matching(text, labels, expected):
    assert LabelSelector.parse(text).matches(labels) is expected


def test_requires_exact_match():
    sel = LabelSelector.parse("app=web,tier in (fe),env in (a,b),!x")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") == "fe"
    assert sel.requires_exact_match("env") is None
    assert sel.requires_exact_match("x") is None
    assert sel.requires_exact_match("missing") is None


# -------------------------------------------------------------------------- metav1.LabelSelector dicts
def test_from_object_match_labels_and_expressions():
    sel = LabelSelector.from_object({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "team", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    })
    assert str(sel) == "app=web,!canary,env notin (dev),team,tier in (be,fe)"
    assert sel.matches({"app": "web", "tier": "fe", "team": "x"})
    assert sel.matches({"app": "web", "tier": "be", "team": "x", "env": "prod"})
    assert not sel.matches({"app": "web", "tier": "fe", "team": "x", "env": "dev"})
    assert not sel.matches({"app": "web", "tier": "fe"})
    assert not sel.matches({"app": "web", "tier": "fe", "team": "x", "canary": "1"})
    assert not sel.matches({"app": "db", "tier": "fe", "team": "x"})


def test_from_object_nil_means_nothing_and_empty_means_everything():
    nothing = LabelSelector.from_object(None)
    assert nothing.matches_nothing and not nothing.is_empty()
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})
    assert nothing == LabelSelector.nothing() != LabelSelector.everything()
    for empty in ({}, {"matchLabels": {}}, {"matchLabels": None, "matchExpressions": []}):
        sel = LabelSelector.from_object(empty)
        assert sel.is_empty() and not sel.matches_nothing and sel.matches({"x": "y"})


@pytest.mark.parametrize(("sel", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn"}]},
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'),
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     '"Gt" is not a valid label selector operator'),
    ({"matchLabels": {"-a": "b"}}, f'key: Invalid value: "-a": {QNAME_REGEX_MSG}'),
    ({"matchLabels": {"a": "b c"}}, f'values[0][a]: Invalid value: "b c": {VALUE_REGEX_MSG}'),
    ({"matchLabels": {"-a": "b c"}},  # several problems print as one aggregate
     f'[key: Invalid value: "-a": {QNAME_REGEX_MSG}, '
     f'values[0][-a]: Invalid value: "b c": {VALUE_REGEX_MSG}]'),
])
def test_from_object_errors(sel, message):
    with pytest.raises(SelectorError) as exc:
        LabelSelector.from_object(sel)
    assert str(exc.value) == message


def test_from_match_labels_is_selector_from_set():
    sel = LabelSelector.from_match_labels({"tier": "fe", "app": "web"})
    assert str(sel) == "app=web,tier=fe"
    assert sel.matches({"app": "web", "tier": "fe", "x": "y"}) and not sel.matches({"app": "web"})
    assert LabelSelector.from_match_labels(None).is_empty()


def test_label_selector_to_string_for_wide_output():
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In",
                                                                   "values": ["b", "a"]}]}
    assert label_selector_to_string(sel) == "app=web,tier in (a,b)"
    assert label_selector_to_string({"matchLabels": {"app": "web"}}) == "app=web"
    assert label_selector_to_string({}) == "<none>"
    assert label_selector_to_string(None) == "<none>"
    assert label_selector_to_string({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}) == "<error>"
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_labels({}) == "<none>"


def test_parse_selector_values():
    assert parse_selector_values("(b, a)") == ["a", "b"]
    assert parse_selector_values("(a,)") == ["", "a"]
    assert parse_selector_values("()") == [""]
    with pytest.raises(SelectorError):
        parse_selector_values("a, b")
    with pytest.raises(SelectorError):
        parse_selector_values("(a) b")


def test_requirement_new_validates_operator():
    with pytest.raises(SelectorError, match=r'operator: Unsupported value: "~"'):
        Requirement.new("a", "~", ["b"])
    with pytest.raises(SelectorError, match="exact-match compatibility requires one single value"):
        Requirement.new("a", "=", ["b", "c"])


# -------------------------------------------------------------------------------- round-trip property
_keys = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,4}", fullmatch=True),
    st.from_regex(r"[a-z]{1,4}\.(io|com)/[a-z][-a-z0-9_.]{0,3}[a-z0-9]", fullmatch=True),
)
_nonempty_values = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,4}[A-Za-z0-9])?", fullmatch=True)
_values = st.one_of(st.just(""), _nonempty_values)


@st.composite
def _requirement_texts(draw: st.DrawFn) -> str:
    key = draw(_keys)
    kind = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
    if kind in ("exists", "!"):
        return key if kind == "exists" else f"!{key}"
    if kind in ("in", "notin"):
        # Upstream rejects some spellings of empty values ("(a,,)"), so "" only ever leads: "(,a)", "()".
        values = draw(st.lists(_nonempty_values, max_size=4))
        if not values or draw(st.booleans()):
            values = ["", *values]
        sep = draw(st.sampled_from([",", ", ", " ,"]))
        return f"{key} {kind} ({sep.join(values)})"
    if kind in (">", "<"):
        return f"{key}{kind}{draw(st.integers(0, 10**6))}"
    return f"{key}{kind}{draw(_values)}"


@settings(max_examples=300, deadline=None)
@given(st.lists(_requirement_texts(), max_size=5), st.data())
def test_string_form_reparses_to_equivalent_selector(reqs, data):
    sel = LabelSelector.parse(",".join(reqs))
    again = LabelSelector.parse(str(sel))
    assert again == sel
    assert str(again) == str(sel)
    labels = data.draw(st.dictionaries(_keys, _values, max_size=4))
    assert again.matches(labels) == sel.matches(labels)


# ------------------------------------------------------------------------------------ field selectors
POD = {
    "metadata": {"name": "web-1", "namespace": "shop"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always", "schedulerName": "default-scheduler",
             "serviceAccountName": "default"},
    "status": {"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]},
}
PENDING = {"metadata": {"name": "web-2", "namespace": "shop"}, "spec": {"hostNetwork": True},
           "status": {"phase": "Pending", "nominatedNodeName": "node-b"}}


@pytest.mark.parametrize(("text", "pod", "expected"), [
    ("status.phase=Running", POD, True),
    ("status.phase==Running", POD, True),
    ("status.phase!=Running", POD, False),
    ("status.phase!=Running", PENDING, True),
    ("spec.nodeName=node-a,metadata.namespace=shop", POD, True),
    ("spec.nodeName=node-a,metadata.namespace=other", POD, False),
    ("spec.nodeName=", PENDING, True),  # unscheduled pods: the missing value is ""
    ("spec.nodeName!=", POD, True),
    ("spec.hostNetwork=false", POD, True),  # unset booleans read as Go's zero value
    ("spec.hostNetwork=true", PENDING, True),
    ("status.podIP=10.0.0.7", POD, True),
    ("status.podIPs=10.0.0.7", POD, False),  # accepted, but never populated upstream
    ("status.nominatedNodeName=node-b", PENDING, True),
    ("metadata.name=web-1", POD, True),
    ("spec.restartPolicy=Always,spec.schedulerName=default-scheduler,spec.serviceAccountName=default", POD,
     True),
    ("", POD, True),
])
def test_pod_field_selectors(text, pod, expected):
    assert FieldSelector.parse(text, "pods").matches(pod) is expected


def test_pod_ip_falls_back_to_status_pod_ip():
    pod = {"metadata": {"name": "p"}, "status": {"podIP": "10.1.1.1"}}
    assert FieldSelector.parse("status.podIP=10.1.1.1", "pods").matches(pod)


CORE_EVENT = {
    "metadata": {"name": "web-1.17a", "namespace": "shop"},
    "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "u-1", "apiVersion": "v1",
                       "resourceVersion": "42", "fieldPath": "spec.containers{app}"},
    "reason": "BackOff", "type": "Warning", "source": {"component": "kubelet", "host": "node-a"},
}


@pytest.mark.parametrize(("text", "expected"), [
    ("involvedObject.kind=Pod,involvedObject.name=web-1", True),
    ("involvedObject.namespace=shop,involvedObject.uid=u-1,involvedObject.apiVersion=v1", True),
    ("involvedObject.resourceVersion=42,involvedObject.fieldPath=spec.containers{app}", True),
    ("reason=BackOff,type=Warning", True),
    ("type!=Normal", True),
    ("type!=Warning", False),
    ("source=kubelet", True),
    ("reportingComponent=", True),
    ("involvedObject.kind=Deployment", False),
])
def test_core_event_field_selectors(text, expected):
    assert FieldSelector.parse(text, "events").matches(CORE_EVENT) is expected


def test_event_source_falls_back_to_reporting_component():
    ev = {"metadata": {"name": "e"}, "reportingComponent": "deployment-controller"}
    assert FieldSelector.parse("source=deployment-controller", "events").matches(ev)


def test_events_k8s_io_reads_regarding_and_reporting_controller():
    ev = {"metadata": {"name": "e", "namespace": "shop"}, "regarding": {"kind": "Pod", "name": "web-1"},
          "reportingController": "kubelet", "reason": "Killing", "type": "Normal"}
    for text in ("regarding.kind=Pod,regarding.name=web-1", "involvedObject.kind=Pod",
                 "reportingController=kubelet", "reportingComponent=kubelet", "source=kubelet",
                 "reason=Killing,type!=Warning"):
        assert FieldSelector.parse(text, "events.events.k8s.io").matches(ev), text
    # The same labels work on events kept in core form.
    assert FieldSelector.parse("regarding.name=web-1", "events.events.k8s.io").matches(CORE_EVENT)
    with pytest.raises(SelectorError, match=r"field label not supported: regarding\.kind"):
        FieldSelector.parse("regarding.kind=Pod", "events")


@pytest.mark.parametrize(("resource", "text", "obj", "expected"), [
    ("secrets", "type=kubernetes.io/tls", {"type": "kubernetes.io/tls"}, True),
    ("secrets", "type!=Opaque", {"type": "Opaque"}, False),
    ("nodes", "spec.unschedulable=false", {"spec": {}}, True),
    ("nodes", "spec.unschedulable=true", {"spec": {"unschedulable": True}}, True),
    ("namespaces", "status.phase=Terminating", {"status": {"phase": "Terminating"}}, True),
    ("replicasets.apps", "status.replicas=0", {"status": {}}, True),
    ("replicasets", "status.replicas!=0", {"status": {"replicas": 3}}, True),
    ("jobs.batch", "status.successful=1", {"status": {"succeeded": 1}}, True),
    ("certificatesigningrequests.certificates.k8s.io", "spec.signerName=kubernetes.io/kubelet-serving",
     {"spec": {"signerName": "kubernetes.io/kubelet-serving"}}, True),
    ("configmaps", "metadata.name=cfg", {"metadata": {"name": "cfg"}}, True),
    ("deployments.apps", "metadata.namespace!=kube-system", {"metadata": {"namespace": "shop"}}, True),
])
def test_other_resource_field_selectors(resource, text, obj, expected):
    assert FieldSelector.parse(text, resource).matches(obj) is expected


@pytest.mark.parametrize(("resource", "text", "message"), [
    ("pods", "spec.foo=bar", "field label not supported: spec.foo"),
    ("pods", "status.phase=Running,spec.foo=bar", "field label not supported: spec.foo"),
    ("events", "involvedObject.foo=x", "field label not supported: involvedObject.foo"),
    ("replicasets.apps", "spec.replicas=1", "field label not supported: spec.replicas"),
    ("deployments.apps", "spec.foo=bar",
     '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("configmaps", "status.phase=x",
     '"status.phase" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("pods", "status.phase", "invalid selector: 'status.phase'; can't understand 'status.phase'"),
    ("pods", "metadata.name=a=b", "invalid field selector: unescaped character in value: ="),
    ("pods", r"metadata.name=a\b", r"invalid field selector: invalid escape sequence: \b"),
    ("pods", "metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_field_selector_errors(resource, text, message):
    with pytest.raises(SelectorError) as exc:
        FieldSelector.parse(text, resource)
    assert str(exc.value) == message


def test_field_selector_escaping_and_string_form():
    fs = FieldSelector.parse(r"metadata.name=a\,b\=c\\d", "configmaps")
    assert fs.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(fs) == r"metadata.name=a\,b\=c\\d"
    assert unescape_field_value(escape_field_value("x,y=z\\")) == "x,y=z\\"
    fs = FieldSelector.parse("status.phase==Running,spec.nodeName!=n1,", "pods")
    assert str(fs) == "spec.nodeName!=n1,status.phase=Running"  # sorted; "==" prints as "="
    assert fs.requires_exact_match("status.phase") == "Running"
    assert fs.requires_exact_match("spec.nodeName") is None
    assert FieldSelector.parse(None, "pods").is_empty()


def test_field_table_covers_every_resource_with_metadata():
    for resource, table in FIELD_SELECTORS.items():
        assert {"metadata.name", "metadata.namespace"} <= set(table), resource
    assert supported_field_labels("services") == ["metadata.name", "metadata.namespace"]
    assert "spec.nodeName" in supported_field_labels("pods")
    assert field_values({"status": {"succeeded": 2}}, "jobs.batch")["status.successful"] == "2"
