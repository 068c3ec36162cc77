"""The static Ollama model catalog (``data/ollama_catalog.json``) and its views.

The catalog is data, not code: a list of popular models per category with their tags,
parameter sizes and the plan's VRAM figures. Whether a tag is installed is never
stored; :func:`catalog_view` marks it from the live ``/api/tags`` list each time.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from server.ollama.client import InvalidModelName, normalize_model_name

__all__ = [
    "Catalog",
    "CatalogCategory",
    "CatalogModel",
    "catalog_view",
    "find_catalog_tag",
    "load_catalog",
]


class _Data(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class CatalogCategory(_Data):
    id: str
    name: str


class CatalogModel(_Data):
    """One model family (``llama3.2``) with its tags (``1b``, ``3b``, ``latest``)."""

    name: str
    description: str
    category: str
    tags: list[str]
    parameter_sizes: list[str]
    recommended_tag: str
    latest_tag: str | None = None
    vram_gb: dict[str, float]

    @model_validator(mode="after")
    def _tags_agree(self) -> CatalogModel:
        referenced = [self.recommended_tag, *self.vram_gb]
        if self.latest_tag is not None:
            referenced.append(self.latest_tag)
        for tag in referenced:
            if tag not in self.tags:
                raise ValueError(f"{self.name}: tag {tag!r} is not among its tags")
        return self

    def vram_for(self, tag: str) -> float | None:
        """The plan's VRAM figure (GB) for a tag, resolving ``latest``.

        ``latest`` uses its own figure if listed, else the figure of the tag it points
        at, else (as the plan did) the first figure listed.
        """
        if tag in self.vram_gb:
            return self.vram_gb[tag]
        if tag != "latest" or not self.vram_gb:
            return None
        if self.latest_tag and self.latest_tag in self.vram_gb:
            return self.vram_gb[self.latest_tag]
        return next(iter(self.vram_gb.values()))


class Catalog(_Data):
    source: str = ""
    categories: list[CatalogCategory]
    models: list[CatalogModel]

    @model_validator(mode="after")
    def _categories_known(self) -> Catalog:
        ids = {category.id for category in self.categories}
        for model in self.models:
            if model.category not in ids:
                raise ValueError(f"{model.name}: unknown category {model.category!r}")
        return self

    @property
    def category_ids(self) -> list[str]:
        return [category.id for category in self.categories]


@cache
def load_catalog() -> Catalog:
    """Read and validate the packaged catalog once per process."""
    text = resources.files("server.ollama").joinpath("data/ollama_catalog.json").read_text("utf-8")
    return Catalog.model_validate(json.loads(text))


def _installed_keys(installed_names: set[str]) -> set[str]:
    keys = set()
    for name in installed_names:
        try:
            keys.add(normalize_model_name(name).lower())
        except InvalidModelName:
            continue
    return keys


def catalog_view(category: str | None, installed_names: set[str]) -> list[dict[str, Any]]:
    """Catalog models (camelCase dicts), optionally one category, tags marked installed.

    ``installed_names`` are names as Ollama lists them (``llama3.2:latest``); a bare
    name counts as ``:latest``. Raises ``ValueError`` for an unknown category.
    """
    catalog = load_catalog()
    if category is not None and category not in catalog.category_ids:
        valid = ", ".join(catalog.category_ids)
        raise ValueError(f"unknown category {category!r}; valid categories: {valid}")
    installed = _installed_keys(installed_names)
    view = []
    for model in catalog.models:
        if category is not None and model.category != category:
            continue
        tags = []
        for tag in model.tags:
            full = f"{model.name}:{tag}"
            tags.append(
                {
                    "tag": tag,
                    "model": full,
                    "installed": full.lower() in installed,
                    "recommended": tag == model.recommended_tag,
                    "vramGb": model.vram_for(tag),
                }
            )
        entry = model.model_dump(by_alias=True, exclude={"tags", "latest_tag"})
        entry["tags"] = tags
        entry["installed"] = any(tag["installed"] for tag in tags)
        view.append(entry)
    return view


def find_catalog_tag(name: str) -> tuple[CatalogModel, str] | None:
    """The catalog model and tag for ``name`` (``llama3.1:8b``), or None if not listed."""
    try:
        normalized = normalize_model_name(name)
    except InvalidModelName:
        return None
    base, _, tag = normalized.rpartition(":")
    for model in load_catalog().models:
        if model.name.lower() == base.lower() and tag.lower() in (t.lower() for t in model.tags):
            matched = next(t for t in model.tags if t.lower() == tag.lower())
            return model, matched
    return None
