"""Record fragments encoded once per distinct value, shared by both fast paths (`_copy`
on PostgreSQL, `_lines.encode_records` elsewhere).

A record is one f-string of encoded fields in `FIELDS` order (`json.encoder`'s C string
encoder, `json`'s float spelling); the parts that repeat across records (an
annotation's start per reviewer, label and origin, its middle per kind, the record's
policy, label and action, its guideline, the automation flag, a cluster's split, the
author's pseudonym) are encoded here once and looked up after that.
"""

from __future__ import annotations

import json
from collections import Counter
from json.encoder import encode_basestring

from modqueue.integrations.export._privacy import Pseudonymiser
from modqueue.queue import DecisionKind, ItemContent, is_automated, split_for

__all__ = ["CACHE", "NULL", "Fragments", "Tally", "float_json", "iso_json"]

CACHE = 4096
"""Entries of a bounded cache of mostly distinct values."""
NULL = "\\N"
"""A null in `COPY` text."""
_SECOND = DecisionKind.SECOND_REVIEW
_INF = float("inf")

Tally = Counter[tuple[str, str, str, str, str, str]]
"""Records per `(split, policy, label, guideline_id, guideline_version, appeal)`."""


def float_json(value: float) -> str:
    """A float as `json` writes it (`NaN`, `Infinity` included)."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def iso_json(at: str | None) -> str:
    """ISO text with a `T` (`2026-11-24T09:00:00.5`) as the aware UTC datetime's JSON
    (`"2026-11-24T09:00:00.500000+00:00"`); null as `null`."""
    if at is None or at == NULL:
        return "null"
    if len(at) == 19:
        return '"' + at + '+00:00"'
    return '"' + at.ljust(26, "0") + '+00:00"'


def _clustered(cluster_id: int) -> ItemContent:
    # Only the cluster counts for an item in one (`content_key`).
    return ItemContent(
        text=None, url=None, media=None, source="", external_id="", cluster_id=cluster_id
    )


class Fragments:
    """What one export (or one worker's chunk) encodes once per distinct value."""

    def __init__(self, names: Pseudonymiser) -> None:
        self.names = names
        self.heads: dict[tuple[str, str, str], str] = {}
        self.kinds: dict[str, str] = {}
        self.abouts: dict[tuple[str, str, str], str] = {}
        self.guidelines: dict[tuple[str, str], str] = {}
        self.seconds: dict[str | float, str] = {}
        self.automated: dict[str, str] = {}
        self.cluster_splits: dict[str | int, str] = {}
        self.encode_media = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def head(self, reviewer: str, label: str, origin: str) -> str:
        """An annotation up to its seconds."""
        s = encode_basestring
        found = self.heads[(reviewer, label, origin)] = (
            f'{{"annotator":{s(self.names.annotator(reviewer))},"label":{s(label)}'
            f',"source":{s(origin)},"seconds":'
        )
        return found

    def kind(self, kind: str) -> str:
        """An annotation from after its seconds up to its time."""
        second = "true" if kind == _SECOND else "false"
        found = self.kinds[kind] = (
            f',"second_review":{second},"kind":{encode_basestring(kind)},"decided_at":'
        )
        return found

    def second(self, raw: str | float) -> str:
        """Seconds (a float, or its text) as JSON."""
        if len(self.seconds) >= CACHE:
            self.seconds.clear()  # bounded: real seconds are mostly distinct
        found = self.seconds[raw] = float_json(float(raw))
        return found

    def about(self, policy: str, label: str, action: str) -> str:
        """The record's policy, label and action, up to its annotations."""
        s = encode_basestring
        found = self.abouts[(policy, label, action)] = (
            f',"policy":{s(policy)},"label":{s(label)},"action":{s(action)},"annotations":['
        )
        return found

    def guideline(self, guideline_id: str, version: str) -> str:
        """The record's guideline, up to its time."""
        s = encode_basestring
        found = self.guidelines[(guideline_id, version)] = (
            f',"guideline_id":{s(guideline_id)},"guideline_version":{s(version)},"decided_at":'
        )
        return found

    def automation(self, origin: str) -> str:
        """`automated` of a record whose final decision came from `origin`."""
        found = self.automated[origin] = "true" if is_automated(origin) else "false"
        return found

    def cluster_split(self, cluster_id: str | int) -> str:
        """The split of every item in cluster `cluster_id`."""
        found = self.cluster_splits.get(cluster_id)
        if found is None:
            if len(self.cluster_splits) >= 16 * CACHE:
                self.cluster_splits.clear()  # bounded memory; recomputing is only slower
            found = self.cluster_splits[cluster_id] = split_for(**_clustered(int(cluster_id)))
        return found
