"""The series a PromQL expression reads, and the series an exposition offers.

``selectors(expr)`` scans an expression (Prometheus 2.x syntax, with Grafana's template
variables) and returns each vector selector: the metric name and its label matchers.
Identifiers that are not metric names are told apart by the grammar: a name followed by
``(`` is a function or an aggregation (an unknown one is an error, so a typo cannot pass
as a metric), ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right`` take a
list of label names, ``and``/``or``/``unless``/``bool``/``offset``/``atan2`` are operators,
``inf``/``nan`` numbers; strings, ranges (``[5m]``, ``[1h:1m]``) and the inside of
``{...}`` (label names and values) are skipped, except a ``__name__`` matcher, which names
the metric. Whatever cannot be checked statically (a regex ``__name__``, a template
variable inside a metric name) is an error rather than a silent pass.
"""
from __future__ import annotations

import re

FUNCTIONS = frozenset("""
abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes
clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year
days_in_month deg delta deriv double_exponential_smoothing exp floor histogram_avg
histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar
histogram_sum holt_winters hour idelta increase info irate label_join label_replace
last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi
predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin
sinh sort sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time
sum_over_time tan tanh time timestamp vector year start end
""".split())
AGGREGATIONS = frozenset("""
sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk
limit_ratio
""".split())
LABEL_LIST_KEYWORDS = frozenset("by without on ignoring group_left group_right".split())
OPERATOR_KEYWORDS = frozenset("and or unless bool offset atan2".split())
NUMBER_WORDS = frozenset(("inf", "nan"))

IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")
MATCHER_OP = re.compile(r"=~|!~|!=|=")


class PromQLError(ValueError):
    pass


def _skip_string(expr: str, i: int) -> int:
    """Index after the string literal starting at ``i``."""
    quote = expr[i]
    j = i + 1
    while j < len(expr):
        if expr[j] == "\\" and quote != "`":
            j += 2
            continue
        if expr[j] == quote:
            return j + 1
        j += 1
    raise PromQLError(f"unterminated string at {i}: {expr!r}")


def _closing(expr: str, i: int, open_: str, close: str) -> int:
    """Index of the bracket closing the one at ``i`` (strings inside respected)."""
    depth, j = 0, i
    while j < len(expr):
        c = expr[j]
        if c in "\"'`":
            j = _skip_string(expr, j)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise PromQLError(f"unbalanced {open_!r} at {i}: {expr!r}")


def _word_at(text: str, i: int) -> str:
    m = IDENT.match(text, i)
    return m.group() if m else ""


def _matchers(body: str) -> list[tuple[str, str, str]]:
    """``[(label, op, value)]`` of the inside of ``{...}``."""
    out, i = [], 0
    while i < len(body):
        if body[i] in " \t\n,":
            i += 1
            continue
        m = LABEL.match(body, i)
        if not m:
            raise PromQLError(f"bad label matcher in {{{body}}}")
        label = m.group()
        i = m.end()
        while i < len(body) and body[i].isspace():
            i += 1
        op = MATCHER_OP.match(body, i)
        if not op:
            raise PromQLError(f"bad label matcher in {{{body}}}")
        i = op.end()
        while i < len(body) and body[i].isspace():
            i += 1
        if i >= len(body) or body[i] not in "\"'`":
            raise PromQLError(f"label value not quoted in {{{body}}}")
        end = _skip_string(body, i)
        value = body[i + 1:end - 1]
        out.append((label, op.group(), value))
        i = end
    return out


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Every vector selector of ``expr``: ``[(metric name, [(label, op, value)])]``."""
    # Grafana's variables stand for values, durations and label values: a placeholder
    # that no grammar rule reads as a metric keeps the scan honest
    text = GRAFANA_VARIABLE.sub(lambda m: "\x00" * len(m.group()), expr)
    out: list = []
    parens, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace() or c == "\x00":
            i += 1
        elif c == "#":                                  # a comment, to the end of the line
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
        elif c in "\"'`":
            i = _skip_string(text, i)
        elif c == "{":                                  # a selector without a name
            end = _closing(text, i, "{", "}")
            matchers = _matchers(expr[i + 1:end])
            names = [v for lab, op, v in matchers if lab == "__name__"]
            if not names:
                raise PromQLError(f"a selector without a metric name: {expr!r}")
            if any(op != "=" for lab, op, v in matchers if lab == "__name__"):
                raise PromQLError(f"a __name__ regex cannot be checked: {expr!r}")
            out.append((names[0], [m for m in matchers if m[0] != "__name__"]))
            i = end + 1
        elif c == "[":                                  # a range or a subquery
            i = _closing(text, i, "[", "]") + 1
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = DURATION.match(text, i) or NUMBER.match(text, i)
            i = m.end()
            if i < n and (text[i].isalnum() or text[i] in "_:"):
                raise PromQLError(f"bad number at {m.start()}: {expr!r}")
        elif IDENT.match(text, i):
            m = IDENT.match(text, i)
            word, i = m.group(), m.end()
            if i < n and text[i] == "\x00":
                raise PromQLError(f"a template variable in a metric name: {expr!r}")
            j = i
            while j < n and text[j].isspace():
                j += 1
            follows = text[j] if j < n else ""
            if word in LABEL_LIST_KEYWORDS:
                if follows == "(":                      # a list of label names
                    i = _closing(text, j, "(", ")") + 1
            elif word.lower() in OPERATOR_KEYWORDS or word.lower() in NUMBER_WORDS:
                pass
            elif word in AGGREGATIONS and _word_at(text, j) in ("by", "without"):
                pass                                    # sum by (...) (...)
            elif follows == "(":
                if word not in FUNCTIONS and word not in AGGREGATIONS:
                    raise PromQLError(f"unknown function {word!r}: {expr!r}")
            else:
                matchers = []
                if follows == "{":
                    end = _closing(text, j, "{", "}")
                    matchers = _matchers(expr[j + 1:end])
                    i = end + 1
                out.append((word, matchers))
        elif c == "(":
            parens += 1
            i += 1
        elif c == ")":
            parens -= 1
            if parens < 0:
                raise PromQLError(f"unbalanced ')': {expr!r}")
            i += 1
        elif c in "+-*/%^=!<>,@":
            i += 1
        else:
            raise PromQLError(f"unexpected {c!r} at {i}: {expr!r}")
    if parens:
        raise PromQLError(f"unbalanced '(': {expr!r}")
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` reads, as the series are named (``_bucket``, ``_total``)."""
    return {name for name, _ in selectors(expr)}


LABEL_VALUES = re.compile(r"\s*label_values\s*\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", re.S)
LABEL_VALUES_ALL = re.compile(r"\s*label_values\s*\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*")
QUERY_RESULT = re.compile(r"\s*query_result\s*\((.*)\)\s*", re.S)


def template_query(query: str) -> tuple[str | None, str | None]:
    """A Grafana Prometheus variable query as ``(PromQL expression, label)``:
    ``label_values(expr, label)``, ``label_values(label)`` (no expression) and
    ``query_result(expr)`` (no label); anything else (``metrics(...)``,
    ``label_names()``) cannot be checked and is an error."""
    if m := LABEL_VALUES.fullmatch(query):
        return m.group(1), m.group(2)
    if LABEL_VALUES_ALL.fullmatch(query):
        return None, None
    if m := QUERY_RESULT.fullmatch(query):
        return m.group(1), None
    raise PromQLError(f"a variable query that cannot be checked: {query!r}")


def exposed_names(families) -> set[str]:
    """Every series name an exposition (prometheus_client's parser's families) offers,
    including those of families that have no sample right now (a counter with no label
    combination yet): counters as ``<name>_total``, histograms as ``_bucket``/``_count``/
    ``_sum``, summaries as the name, ``_count`` and ``_sum``."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
                "summary": ("", "_count", "_sum"), "info": ("_info",)}
    out = set()
    for fam in families:
        out.update(fam.name + s for s in suffixes.get(fam.type, ("",)))
        out.update(s.name for s in fam.samples)
    return out


def substitute(expr: str, values: dict) -> str:
    """``expr`` with Grafana's variables (``$name``, ``${name}``, ``[[name]]``) replaced by
    ``values[name]``: a query as Grafana sends it to Prometheus."""
    def value(m):
        name = m.group().strip("${}[]").split(":")[0]
        if name not in values:
            raise PromQLError(f"no value for the variable {name!r} in {expr!r}")
        return values[name]
    return GRAFANA_VARIABLE.sub(value, expr)
