"""Reading and checking guideline documents.

A guideline document is a markdown file with YAML front matter between two `---`
lines. Every problem is reported with the file and the line in that file: the YAML is
composed into nodes (`yaml.compose`), whose marks give the line of each key and value.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from modqueue._exceptions import GuidelineError
from modqueue.guidelines import _model
from modqueue.guidelines._model import (
    DEFAULT_MEDIA_VIEW,
    Action,
    Guideline,
    GuidelineProblem,
    Label,
    MediaView,
)
from modqueue.guidelines._set import TRIAGE_ID, GuidelineSet

__all__ = ["bundled_guidelines_dir", "check_guidelines", "load_guidelines"]

_FENCE = "---"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_LABELS = 9
_DEFAULT_MIN_SCORE = 0.5

_REQUIRED_KEYS = ("id", "title", "severity", "sla_hours", "graphic", "labels")
_OPTIONAL_KEYS = ("routing", "media_view", "clusters")
_CLUSTER_KEYS = ("text_jaccard", "pdq_distance", "propagate", "propagate_review_share")
_LABEL_KEYS = ("id", "title", "hotkey", "action")
_LABEL_OPTIONAL = ("description",)
_MAX_DESCRIPTION = 300
_ROUTING_KEYS = ("keywords", "signals")
_SIGNAL_REQUIRED = ("prefix",)
_SIGNAL_OPTIONAL = ("min_score",)
_ACTIONS = ", ".join(a.value for a in Action)
_MEDIA_VIEWS = " | ".join(v.value for v in MediaView)


def bundled_guidelines_dir() -> Path:
    """Return the folder of the guideline documents that ship with modqueue."""
    return Path(__file__).resolve().parent / "bundled"


def check_guidelines(directory: Path | None = None) -> list[GuidelineProblem]:
    """Check every `*.md` guideline document in `directory` and return every problem.

    `directory` defaults to `bundled_guidelines_dir()`. Each problem names the file and
    the line in it (the line of the offending front-matter key or value; line 1 when the
    front matter is missing; line 0 for a problem with the folder itself). An empty list
    means the folder loads cleanly.
    """
    problems, _ = _scan(directory)
    return problems


def load_guidelines(directory: Path | None = None) -> GuidelineSet:
    """Load every guideline document in `directory` into a `GuidelineSet`.

    `directory` defaults to `bundled_guidelines_dir()`. Raises `GuidelineError` carrying
    every problem `check_guidelines` finds; nothing is loaded unless the whole folder is
    valid. Nothing is cached: callers keep the set they get.
    """
    problems, guidelines = _scan(directory)
    if problems:
        raise GuidelineError(problems)
    folder = bundled_guidelines_dir() if directory is None else directory
    return GuidelineSet(guidelines, directory=folder)


def _scan(directory: Path | None) -> tuple[list[GuidelineProblem], list[Guideline]]:
    folder = bundled_guidelines_dir() if directory is None else Path(directory)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        return [GuidelineProblem(folder, 0, f"guideline folder {what}")], []
    paths = sorted(p for p in folder.glob("*.md") if p.is_file() and not p.name.startswith("."))
    if not paths:
        return [GuidelineProblem(folder, 0, "guideline folder has no .md documents")], []

    problems: list[GuidelineProblem] = []
    guidelines: list[Guideline] = []
    first_seen: dict[str, Path] = {}
    declared: set[str] = set()
    for path in paths:
        doc = _DocumentChecker(path)
        guideline = doc.check()
        problems.extend(doc.problems)
        if doc.declared_id is not None:
            gid, line = doc.declared_id
            declared.add(gid)
            if gid in first_seen:
                problems.append(
                    GuidelineProblem(
                        path,
                        line,
                        f"duplicate guideline id {gid!r} (also used by {first_seen[gid].name})",
                    )
                )
                guideline = None
            else:
                first_seen[gid] = path
        if guideline is not None:
            guidelines.append(guideline)
    if TRIAGE_ID not in declared and not (folder / f"{TRIAGE_ID}.md").exists():
        problems.append(
            GuidelineProblem(
                folder,
                0,
                f"no guideline with id {TRIAGE_ID!r}: items that match no routing rule "
                "are decided under it",
            )
        )
    problems.sort(key=lambda p: (str(p.path), p.line))
    return problems, guidelines


@dataclass
class _DocumentChecker:
    """Checks one document, collecting problems; builds the `Guideline` if it is valid."""

    path: Path
    problems: list[GuidelineProblem] = field(default_factory=list)
    declared_id: tuple[str, int] | None = None
    _offset: int = 1
    _constructor: SafeConstructor = field(default_factory=SafeConstructor)

    # -- reporting -------------------------------------------------------------------

    def _problem(self, line: int, message: str) -> None:
        self.problems.append(GuidelineProblem(self.path, line, message))

    def _line(self, node: Node) -> int:
        return node.start_mark.line + 1 + self._offset

    # -- the document ----------------------------------------------------------------

    def check(self) -> Guideline | None:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            self._problem(1, f"cannot read the file: {exc.strerror or exc}")
            return None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self._problem(line, f"not valid UTF-8 text (byte {exc.start})")
            return None
        version = "sha256:" + hashlib.sha256(raw).hexdigest()[:16]

        lines = text.splitlines(keepends=True)
        if not lines or lines[0].rstrip() != _FENCE:
            self._problem(1, "missing front matter: the file must start with a '---' line")
            return None
        closing = next((i for i in range(1, len(lines)) if lines[i].rstrip() == _FENCE), None)
        if closing is None:
            self._problem(1, "front matter is never closed: add a '---' line after it")
            return None
        # The YAML starts on file line 2: YAML line 0 is file line 1 + offset.
        self._offset = 1
        front = "".join(lines[1:closing])
        body = "".join(lines[closing + 1 :]).strip()

        try:
            root = yaml.compose(front, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 + self._offset if mark is not None else 1
            reason = exc.problem or exc.context or "invalid YAML"
            self._problem(line, f"front matter is not valid YAML: {reason}")
            return None
        except yaml.YAMLError as exc:
            self._problem(1, f"front matter is not valid YAML: {exc}")
            return None
        if root is None:
            self._problem(1, "front matter is empty")
            return None
        if not isinstance(root, MappingNode):
            self._problem(self._line(root), "front matter must be a mapping of keys to values")
            return None

        fields = self._mapping(root, _REQUIRED_KEYS, _OPTIONAL_KEYS, "front matter", 1)
        gid = self._slug(fields.get("id"), "id")
        if gid is not None:
            self.declared_id = (gid, self._line(fields["id"]))
        title = self._text(fields.get("title"), "title")
        severity = self._int(fields.get("severity"), "severity", 1, 5)
        sla_hours = self._positive_number(fields.get("sla_hours"), "sla_hours")
        graphic = self._bool(fields.get("graphic"), "graphic")
        labels = self._labels(fields.get("labels"))
        routing = self._routing(fields.get("routing"))
        media_view = self._media_view(fields.get("media_view"))
        clusters = self._clusters(fields.get("clusters"))
        if routing and gid == TRIAGE_ID and "routing" in fields:
            self._problem(
                self._line(fields["routing"]),
                f"the {TRIAGE_ID!r} guideline takes items no rule matched: it must not "
                "have routing rules",
            )
        if not body:
            self._problem(
                closing + 1,
                "body is empty: write the definitions, examples and grey areas after the "
                "front matter",
            )

        if (
            self.problems
            or gid is None
            or title is None
            or severity is None
            or sla_hours is None
            or graphic is None
            or labels is None
            or routing is None
            or media_view is None
            or clusters is None
        ):
            return None
        return Guideline(
            id=gid,
            title=title,
            severity=severity,
            sla_hours=sla_hours,
            graphic=graphic,
            labels=labels,
            routing=routing,
            body=body,
            version=version,
            path=self.path,
            media_view=media_view,
            clusters=clusters,
        )

    # -- structure -------------------------------------------------------------------

    def _mapping(
        self,
        node: MappingNode,
        required: tuple[str, ...],
        optional: tuple[str, ...],
        where: str,
        missing_line: int,
    ) -> dict[str, Node]:
        """Return the mapping's values by key, reporting bad, unknown, repeated and missing keys."""
        allowed = required + optional
        found: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self._construct(key_node)
            if not isinstance(key, str):
                self._problem(self._line(key_node), f"{where}: keys must be text, not {key!r}")
                continue
            if key in found:
                self._problem(
                    self._line(key_node),
                    f"{where}: key {key!r} appears twice (first on line {key_lines[key]})",
                )
                continue
            if key not in allowed:
                self._problem(
                    self._line(key_node),
                    f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})",
                )
                continue
            found[key] = value_node
            key_lines[key] = self._line(key_node)
        for key in required:
            if key not in found:
                self._problem(missing_line, f"{where}: missing required key {key!r}")
        return found

    def _labels(self, node: Node | None) -> tuple[Label, ...] | None:
        if node is None:
            return None
        if not isinstance(node, SequenceNode):
            self._problem(self._line(node), "labels must be a list of labels")
            return None
        if not 1 <= len(node.value) <= _MAX_LABELS:
            self._problem(
                self._line(node),
                f"labels: a guideline needs 1 to {_MAX_LABELS} labels, found {len(node.value)}",
            )
        labels: list[Label] = []
        ok = True
        ids: dict[str, int] = {}
        hotkeys: dict[int, int] = {}
        for index, item in enumerate(node.value, start=1):
            where = f"label {index}"
            if not isinstance(item, MappingNode):
                self._problem(self._line(item), f"{where} must be a mapping with {_LABEL_KEYS}")
                ok = False
                continue
            fields = self._mapping(item, _LABEL_KEYS, _LABEL_OPTIONAL, where, self._line(item))
            label_id = self._slug(fields.get("id"), f"{where} id")
            title = self._text(fields.get("title"), f"{where} title")
            hotkey = self._int(fields.get("hotkey"), f"{where} hotkey", 1, 9)
            action = self._action(fields.get("action"), f"{where} action")
            description: str | None = ""
            if "description" in fields:
                description = self._text(fields["description"], f"{where} description")
                if description is not None and len(description) > _MAX_DESCRIPTION:
                    self._problem(
                        self._line(fields["description"]),
                        f"{where} description is {len(description)} characters long: "
                        f"keep it to one sentence of at most {_MAX_DESCRIPTION}",
                    )
                    description = None
            if label_id is not None:
                line = self._line(fields["id"])
                if label_id in ids:
                    self._problem(
                        line, f"duplicate label id {label_id!r} (first on line {ids[label_id]})"
                    )
                    ok = False
                else:
                    ids[label_id] = line
            if hotkey is not None:
                line = self._line(fields["hotkey"])
                if hotkey in hotkeys:
                    self._problem(
                        line,
                        f"duplicate hotkey {hotkey} in {where} (first on line {hotkeys[hotkey]})",
                    )
                    ok = False
                else:
                    hotkeys[hotkey] = line
            if (
                label_id is None
                or title is None
                or hotkey is None
                or action is None
                or description is None
            ):
                ok = False
                continue
            labels.append(
                Label(
                    id=label_id,
                    title=title,
                    hotkey=hotkey,
                    action=action,
                    description=description,
                )
            )
        return tuple(labels) if ok else None

    def _routing(self, node: Node | None) -> _model.RoutingRules | None:
        if node is None:
            return _model.RoutingRules()
        if isinstance(node, ScalarNode) and self._construct(node) is None:
            return _model.RoutingRules()
        if not isinstance(node, MappingNode):
            self._problem(self._line(node), "routing must be a mapping with keywords and signals")
            return None
        fields = self._mapping(node, (), _ROUTING_KEYS, "routing", self._line(node))
        keywords = self._keywords(fields.get("keywords"))
        signals = self._signals(fields.get("signals"))
        if keywords is None or signals is None:
            return None
        return _model.RoutingRules(keywords=keywords, signals=signals)

    def _clusters(self, node: Node | None) -> _model.ClusterSettings | None:
        default = _model.ClusterSettings()
        if node is None:
            return default
        if isinstance(node, ScalarNode) and self._construct(node) is None:
            return default
        if not isinstance(node, MappingNode):
            self._problem(
                self._line(node),
                f"clusters must be a mapping with any of {', '.join(_CLUSTER_KEYS)}",
            )
            return None
        fields = self._mapping(node, (), _CLUSTER_KEYS, "clusters", self._line(node))
        ok = True
        jaccard = default.text_jaccard
        if "text_jaccard" in fields:
            value = self._number(fields["text_jaccard"], "clusters.text_jaccard")
            if value is not None and not 0.0 < value <= 1.0:
                self._problem(
                    self._line(fields["text_jaccard"]),
                    f"clusters.text_jaccard must be greater than 0 and at most 1, not {value:g}",
                )
                value = None
            ok = ok and value is not None
            jaccard = value if value is not None else jaccard
        distance: int | None = default.pdq_distance
        if "pdq_distance" in fields:
            distance = self._int(fields["pdq_distance"], "clusters.pdq_distance", 0, 256)
            ok = ok and distance is not None
        propagate: str | None = default.propagate
        if "propagate" in fields:
            node = fields["propagate"]
            if isinstance(node, ScalarNode) and node.value.lower() == "off":
                propagate = "off"  # YAML 1.1 reads an unquoted `off` as false
            else:
                propagate = self._text(node, "clusters.propagate")
            if propagate is not None and propagate not in _model.PROPAGATE_MODES:
                self._problem(
                    self._line(fields["propagate"]),
                    f"clusters.propagate {propagate!r} is not one of: "
                    f"{', '.join(_model.PROPAGATE_MODES)}",
                )
                propagate = None
            ok = ok and propagate is not None
        share: float | None = default.propagate_review_share
        if "propagate_review_share" in fields:
            share = self._score(fields["propagate_review_share"], "clusters.propagate_review_share")
            ok = ok and share is not None
        if not ok or distance is None or propagate is None or share is None:
            return None
        return _model.ClusterSettings(
            text_jaccard=jaccard,
            pdq_distance=distance,
            propagate=propagate,
            propagate_review_share=share,
        )

    def _keywords(self, node: Node | None) -> tuple[str, ...] | None:
        if node is None:
            return ()
        if not isinstance(node, SequenceNode):
            self._problem(self._line(node), "routing keywords must be a list of phrases")
            return None
        keywords: list[str] = []
        ok = True
        for item in node.value:
            keyword = self._text(item, "routing keyword")
            if keyword is None:
                ok = False
            else:
                keywords.append(keyword)
        return tuple(keywords) if ok else None

    def _signals(self, node: Node | None) -> tuple[_model.SignalRule, ...] | None:
        if node is None:
            return ()
        if not isinstance(node, SequenceNode):
            self._problem(self._line(node), "routing signals must be a list of rules")
            return None
        rules: list[_model.SignalRule] = []
        ok = True
        for index, item in enumerate(node.value, start=1):
            where = f"routing signal {index}"
            if not isinstance(item, MappingNode):
                self._problem(self._line(item), f"{where} must be a mapping with prefix, min_score")
                ok = False
                continue
            fields = self._mapping(
                item, _SIGNAL_REQUIRED, _SIGNAL_OPTIONAL, where, self._line(item)
            )
            prefix = self._text(fields.get("prefix"), f"{where} prefix")
            min_score: float | None = _DEFAULT_MIN_SCORE
            if "min_score" in fields:
                min_score = self._score(fields["min_score"], f"{where} min_score")
            if prefix is None or min_score is None:
                ok = False
                continue
            rules.append(_model.SignalRule(prefix=prefix, min_score=min_score))
        return tuple(rules) if ok else None

    # -- scalars ---------------------------------------------------------------------

    def _construct(self, node: Node) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            return _Unreadable(node.tag)

    def _scalar(self, node: Node | None, what: str, kind: str) -> Any:
        """Return the scalar's value, or `_MISSING` (already reported) when it is not a scalar."""
        if node is None:
            return _MISSING
        if not isinstance(node, ScalarNode):
            shape = "a list" if isinstance(node, SequenceNode) else "a mapping"
            self._problem(self._line(node), f"{what} must be {kind}, not {shape}")
            return _MISSING
        return self._construct(node)

    def _text(self, node: Node | None, what: str) -> str | None:
        value = self._scalar(node, what, "text")
        if value is _MISSING or node is None:
            return None
        if not isinstance(value, str):
            self._problem(self._line(node), f"{what} must be text, not {_show(value)}")
            return None
        if not value.strip():
            self._problem(self._line(node), f"{what} must not be empty")
            return None
        return value.strip()

    def _slug(self, node: Node | None, what: str) -> str | None:
        value = self._text(node, what)
        if value is None or node is None:
            return None
        if not _SLUG.fullmatch(value):
            self._problem(
                self._line(node),
                f"{what} {value!r} is not a slug: use lowercase letters, digits and single "
                "hyphens (e.g. 'people-smuggling')",
            )
            return None
        return value

    def _int(self, node: Node | None, what: str, low: int, high: int) -> int | None:
        value = self._scalar(node, what, "a whole number")
        if value is _MISSING or node is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._problem(
                self._line(node), f"{what} must be a whole number {low}..{high}, not {_show(value)}"
            )
            return None
        if not low <= value <= high:
            self._problem(self._line(node), f"{what} must be {low}..{high}, not {value}")
            return None
        return value

    def _number(self, node: Node | None, what: str) -> float | None:
        value = self._scalar(node, what, "a number")
        if value is _MISSING or node is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._problem(self._line(node), f"{what} must be a number, not {_show(value)}")
            return None
        if not math.isfinite(value):
            self._problem(self._line(node), f"{what} must be a finite number, not {value}")
            return None
        return float(value)

    def _positive_number(self, node: Node | None, what: str) -> float | None:
        value = self._number(node, what)
        if value is not None and node is not None and value <= 0:
            self._problem(self._line(node), f"{what} must be greater than 0, not {value:g}")
            return None
        return value

    def _score(self, node: Node, what: str) -> float | None:
        value = self._number(node, what)
        if value is not None and not 0.0 <= value <= 1.0:
            self._problem(self._line(node), f"{what} must be between 0 and 1, not {value:g}")
            return None
        return value

    def _bool(self, node: Node | None, what: str) -> bool | None:
        value = self._scalar(node, what, "true or false")
        if value is _MISSING or node is None:
            return None
        if not isinstance(value, bool):
            self._problem(self._line(node), f"{what} must be true or false, not {_show(value)}")
            return None
        return value

    def _media_view(self, node: Node | None) -> MediaView | None:
        if node is None:
            return DEFAULT_MEDIA_VIEW
        value = self._text(node, "media_view")
        if value is None:
            return None
        try:
            return MediaView(value)
        except ValueError:
            self._problem(self._line(node), f"media_view {value!r} is not one of: {_MEDIA_VIEWS}")
            return None

    def _action(self, node: Node | None, what: str) -> Action | None:
        value = self._text(node, what)
        if value is None or node is None:
            return None
        try:
            return Action(value)
        except ValueError:
            self._problem(self._line(node), f"{what} {value!r} is not one of: {_ACTIONS}")
            return None


class _Unreadable:
    """A YAML value that could not be constructed (an unknown tag, say)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __repr__(self) -> str:
        return f"a value tagged {self.tag}"


_MISSING: Any = object()


def _show(value: Any) -> str:
    if isinstance(value, _Unreadable):
        return repr(value)
    if value is None:
        return "empty"
    return f"{type(value).__name__} {value!r}"
