"""The informer's cache: objects by ``namespace/name`` key, with secondary indexes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from exoccm.kube.objects import Obj

IndexFunc = Callable[[Obj], Iterable[str]]
_Keys = list[str]
_Items = list[tuple[str, Obj]]
_Objs = list[Obj]  # aliases: the methods named ``list`` shadow the builtin in class scope


class Store:
    """A dict of objects plus indexes kept up to date on every write.

    An index maps each object to zero or more string values (``add_index("node", fn)``), and
    :meth:`by_index` returns the objects with a given value.
    """

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        # index name -> value -> keys, and index name -> key -> values (to unindex on change).
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._values: dict[str, dict[str, tuple[str, ...]]] = {}

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self) -> _Keys:
        return list(self._items)

    def list(self) -> _Objs:
        return list(self._items.values())

    def items(self) -> _Items:
        return list(self._items.items())

    def put(self, key: str, obj: Obj) -> Obj | None:
        """Store ``obj`` under ``key``; return the previous object, if any."""
        old = self._items.get(key)
        self._items[key] = obj
        if self._index_funcs:
            self._reindex(key, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Remove ``key``; return the object it held, if any."""
        old = self._items.pop(key, None)
        if old is not None and self._index_funcs:
            self._reindex(key, None)
        return old

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Register an index and build it over the current contents."""
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = func
        self._indices[name] = {}
        self._values[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, key, obj)

    def by_index(self, name: str, value: str) -> _Objs:
        """Objects whose index ``name`` yields ``value``."""
        return [self._items[key] for key in self.index_keys(name, value)]

    def index_keys(self, name: str, value: str) -> set[str]:
        """Keys whose index ``name`` yields ``value``."""
        try:
            index = self._indices[name]
        except KeyError:
            raise KeyError(f"no index named {name!r}; add it with add_index first") from None
        return set(index.get(value, ()))

    def index_values(self, name: str) -> _Keys:
        """Every value index ``name`` currently holds."""
        return list(self._indices[name])

    def _reindex(self, key: str, obj: Obj | None) -> None:
        for name in self._index_funcs:
            self._unindex_one(name, key)
            if obj is not None:
                self._index_one(name, key, obj)

    def _index_one(self, name: str, key: str, obj: Obj) -> None:
        values = tuple(dict.fromkeys(self._index_funcs[name](obj)))
        if not values:
            return
        self._values[name][key] = values
        index = self._indices[name]
        for value in values:
            index.setdefault(value, set()).add(key)

    def _unindex_one(self, name: str, key: str) -> None:
        values = self._values[name].pop(key, ())
        index = self._indices[name]
        for value in values:
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]
