"""The category tree in memory: parent, name and path of every category, loaded in one query.

The tree is small and append-only (importers create categories by path and never move them), so a Catalog
keeps one and answers ancestors, subtrees and labels from it without further queries.
"""
from __future__ import annotations


class CategoryTree:
    """Category id -> parent / name / path, from (id, name, path, parent_id) rows."""

    def __init__(self, rows: list[tuple[int, str, str, int | None]]):
        self.name = {cid: name for cid, name, _, _ in rows}
        self.path = {cid: path for cid, _, path, _ in rows}
        self.parent = {cid: parent for cid, _, _, parent in rows}
        self.children: dict[int, list[int]] = {cid: [] for cid in self.name}
        for cid, parent in self.parent.items():
            if parent in self.children:
                self.children[parent].append(cid)
        for kids in self.children.values():
            kids.sort(key=lambda c: self.path[c])

    def chain(self, cid: int | None) -> list[int]:
        """The category then its ancestors up to the root."""
        out: list[int] = []
        while cid is not None and cid in self.name and cid not in out:
            out.append(cid)
            cid = self.parent[cid]
        return out

    def subtree(self, cid: int) -> list[int]:
        out, stack = [], [cid]
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(reversed(self.children.get(c, [])))
        return out

    def label(self, cid: int) -> str:
        return " / ".join(self.name[c] for c in reversed(self.chain(cid)))
