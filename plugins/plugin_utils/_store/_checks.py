# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record checks of the state store, the same for every backend.

- **In** (what callers hand in): ids, required keys, plain JSON; a bad record raises :class:`InvalidRecord` and
  nothing is written.
- **Out** (what is read back): JSON, required keys and the **types** of the keys the scheduler relies on; every
  bad record is a problem dict ``{"instance", "path", "key", "reason"}`` (``path`` ``None`` for the instance
  record, ``key`` ``None`` when the record does not parse at all), gathered into a :class:`CorruptRecord` by the
  caller. A bad record is never changed or deleted.

The required keys and types of instance and item records are ``_records``' (one place for the record shapes);
this module turns its ``(key, reason)`` pairs into the store's problem dicts.
"""

from __future__ import annotations

import json

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _records, _resources
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._records import (
    INSTANCE_REQUIRED,
    ITEM_REQUIRED,
    SCHEMA,
    is_count as _is_count,
    shown as _shown,
    str_or_none as _str_or_none,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._common import (
    _STORE_KEYS_INSTANCE,
    CorruptRecord,
    InvalidRecord,
    Lease,
    _dumps,
    parse_iid,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import epoch_isotime


# --------------------------------------------------------------------------------------------------------------
# in


def check_instance_in(iid: str, instance: dict) -> dict:
    if not isinstance(instance, dict):
        raise InvalidRecord('instance record for %s must be a dict, not %s' % (iid, type(instance).__name__))
    frame, date = parse_iid(iid)
    inst = {k: v for k, v in instance.items() if k not in _STORE_KEYS_INSTANCE}
    inst.setdefault('id', iid)
    inst.setdefault('frame', frame)
    inst.setdefault('operation_date', date)
    inst.setdefault('schema', SCHEMA)
    if inst['id'] != iid or inst['frame'] != frame or inst['operation_date'] != date:
        raise InvalidRecord('instance record for %s has id %r, frame %r, operation_date %r: they must match '
                            'the instance id; nothing was written'
                            % (iid, inst['id'], inst['frame'], inst['operation_date']))
    missing = [k for k in INSTANCE_REQUIRED if k not in inst]
    if missing:
        raise InvalidRecord('instance record for %s lacks the key(s) %s; nothing was written'
                            % (iid, ', '.join(missing)))
    return inst


def check_item_in(iid: str, path: str, item: dict) -> dict:
    if not isinstance(path, str) or not path or path.startswith('/') or path.endswith('/') or '//' in path:
        raise InvalidRecord('invalid item path %r in instance %s: expected slash-joined names such as '
                            '"load/stage"; nothing was written' % (path, iid))
    if not isinstance(item, dict):
        raise InvalidRecord('item %r of instance %s must be a dict, not %s; nothing was written'
                            % (path, iid, type(item).__name__))
    it = dict(item)
    it.setdefault('path', path)
    if it['path'] != path:
        raise InvalidRecord('item %r of instance %s carries path %r: they must match; nothing was written'
                            % (path, iid, it['path']))
    missing = [k for k in ITEM_REQUIRED if k not in it]
    if missing:
        raise InvalidRecord('item %r of instance %s lacks the key(s) %s; nothing was written'
                            % (path, iid, ', '.join(missing)))
    return it


def prepare_events(iid: str, events) -> list[str]:
    """Event dicts -> their JSON rows (``seq`` dropped, ``at`` stamped when absent), as the store keeps them."""
    if events is None:
        return []
    if not isinstance(events, (list, tuple)):
        raise InvalidRecord('events for %s must be a list of dicts, not %s; nothing was written'
                            % (iid, type(events).__name__))
    rows = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise InvalidRecord('event #%d for %s must be a dict, not %s' % (i, iid, type(ev).__name__))
        ev = {k: v for k, v in ev.items() if k != 'seq'}
        ev.setdefault('at', epoch_isotime())
        rows.append(_dumps(ev, 'event #%d of %s' % (i, iid)))
    return rows


def prepare_create(instance: dict, items, events=None) -> tuple[str, str, list, list]:
    """``(iid, instance JSON, [(path, item JSON)], [event JSON])`` of a new instance; :class:`InvalidRecord`."""
    if not isinstance(instance, dict):
        raise InvalidRecord('instance record must be a dict, not %s' % type(instance).__name__)
    iid = instance.get('id')
    if iid is None and 'frame' in instance and 'operation_date' in instance:
        iid = '%s@%s' % (instance['frame'], instance['operation_date'])
    parse_iid(iid)
    inst = check_instance_in(iid, instance)
    now = epoch_isotime()
    inst.setdefault('updated', now)
    if items is None:
        items = []
    if isinstance(items, dict):
        pairs = list(items.items())
    elif isinstance(items, (list, tuple)):
        pairs = []
        for i, it in enumerate(items):
            if not isinstance(it, dict) or 'path' not in it:
                raise InvalidRecord('item #%d of instance %s must be a dict with a "path"; nothing was written'
                                    % (i, iid))
            pairs.append((it['path'], it))
    else:
        raise InvalidRecord('items of instance %s must be a dict {path: item} or a list of items, not %s'
                            % (iid, type(items).__name__))
    seen = set()
    rows = []
    for path, it in pairs:
        it = check_item_in(iid, path, it)
        if path in seen:
            raise InvalidRecord('item %r appears twice in instance %s; nothing was written' % (path, iid))
        seen.add(path)
        it.setdefault('updated', now)
        it['version'] = 1
        rows.append((path, _dumps(it, 'item %r of instance %s' % (path, iid))))
    return iid, _dumps(inst, 'instance record %s' % iid), rows, prepare_events(iid, events)


def create_index_rows(iid: str, items) -> list:
    """The index rows of a new instance's items (``[]`` for fresh items: nothing holds or waits yet)."""
    pairs = items.items() if isinstance(items, dict) else [(it.get('path'), it) for it in (items or [])]
    return [row for row in index_rows(iid, {path: dict(it, path=path) for path, it in pairs}) if row[1] is not None]


def run_fn(iid: str, fn, instance: dict, items: dict, version: int, *, view=None, reindex: bool = False):
    """Call an update function and check what it returns.

    ``fn(instance, items)`` (``fn(instance, items, view)`` when ``view`` is given: what the index and the resource
    definitions hold, for a launch decision) returns ``(instance or None, {path: item or None}, result)`` or the
    same with a fourth element, a list of event dicts. The answer is ``(instance JSON or None, [(path, JSON or
    None)], result, [event JSON], [(index key, entry JSON or None)])``; anything else raises
    :class:`InvalidRecord` before a byte is written.

    The index rows are those of the changed items (:func:`_resources.entry_of`: ``None`` removes the entry); with
    ``reindex`` they are the entries of every item of the instance as it will be (the backend first removes all the
    instance's entries).
    """
    out = fn(instance, items) if view is None else fn(instance, items, view)
    if not isinstance(out, tuple) or len(out) not in (3, 4):
        raise InvalidRecord('the update function for %s must return (instance or None, {path: item}, result) or '
                            '(instance or None, {path: item}, result, [event]), got %r; nothing was written'
                            % (iid, type(out).__name__))
    new_inst, changed, result = out[:3]
    events = out[3] if len(out) == 4 else None
    now = epoch_isotime()
    inst_json = None
    if new_inst is not None:
        inst = check_instance_in(iid, new_inst)
        inst['updated'] = now
        inst_json = _dumps(inst, 'instance record %s' % iid)
    writes = []
    final = {}
    if changed:
        if not isinstance(changed, dict):
            raise InvalidRecord('the update function for %s must return items as {path: item}, got %s; '
                                'nothing was written' % (iid, type(changed).__name__))
        for path, item in changed.items():
            if item is None:
                if not isinstance(path, str):
                    raise InvalidRecord('invalid item path %r in instance %s' % (path, iid))
                writes.append((path, None))
                final[path] = None
                continue
            it = check_item_in(iid, path, item)
            it['updated'] = now
            it['version'] = version
            writes.append((path, _dumps(it, 'item %r of instance %s' % (path, iid))))
            final[path] = it
    if reindex:
        final = dict(items, **final)
        index = [row for row in index_rows(iid, final) if row[1] is not None]
    else:
        index = index_rows(iid, final)
    return inst_json, writes, result, prepare_events(iid, events), index


def index_rows(iid: str, items: dict) -> list:
    """``[(index key, entry JSON or None)]`` of items ({path: item or None}); the JSON has sorted keys, so equal
    entries are equal text. Nets have no entry and no row."""
    rows = []
    for path, item in items.items():
        if isinstance(item, dict) and item.get('kind') != 'job':
            continue
        entry = _resources.entry_of(iid, item) if isinstance(item, dict) else None
        rows.append((_resources.index_key(iid, path),
                     None if entry is None else json.dumps(entry, sort_keys=True, separators=(',', ':'))))
    return rows


def parse_index(rows, problems=None) -> dict:
    """{key: entry} of stored index rows; a row that does not parse is left out (and noted in ``problems``): the
    index is derived from the items, and recovery rebuilds it."""
    out = {}
    for key, raw in rows:
        key = key.decode('utf-8') if isinstance(key, bytes) else key
        try:
            entry = json.loads(raw)
        except (TypeError, ValueError) as e:
            if problems is not None:
                problems.append('index entry %r does not parse (%s)' % (key, e))
            continue
        if isinstance(entry, dict):
            out[key] = entry
    return out


def parse_resources(rows) -> dict:
    """{name: record} of stored resource definitions; a record without a whole ``capacity`` is left out."""
    out = {}
    for name, raw in rows:
        name = name.decode('utf-8') if isinstance(name, bytes) else name
        try:
            rec = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if isinstance(rec, dict) and isinstance(rec.get('capacity'), int) and not isinstance(rec['capacity'], bool):
            out[name] = rec
    return out


# --------------------------------------------------------------------------------------------------------------
# out


def parse_record(raw, iid, path, required, problems, record=None) -> dict | None:
    """A JSON object with the ``required`` keys, or ``None`` with a problem appended."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode('utf-8')
        except UnicodeDecodeError as e:
            problems.append({'instance': iid, 'path': path, 'key': None, 'record': record,
                             'reason': 'not UTF-8 (%s)' % e})
            return None
    try:
        rec = json.loads(raw)
    except (TypeError, ValueError) as e:
        problems.append({'instance': iid, 'path': path, 'key': None, 'record': record,
                         'reason': 'does not parse as JSON (%s)' % e})
        return None
    if not isinstance(rec, dict):
        problems.append({'instance': iid, 'path': path, 'key': None, 'record': record,
                         'reason': 'is a JSON %s, not an object' % type(rec).__name__})
        return None
    for k in required:
        if k not in rec:
            problems.append({'instance': iid, 'path': path, 'key': k, 'record': record,
                             'reason': 'missing key %r' % k})
            return None
    return rec


def _type_problems(iid, path, found, problems: list) -> bool:
    """``found``: ``_records``' ``[(key, reason)]`` of one record, appended to ``problems`` as problem dicts."""
    for key, reason in found:
        problems.append({'instance': iid, 'path': path, 'key': key, 'reason': reason})
    return not found


def parse_instance(iid: str, raw, version, problems: list) -> dict | None:
    """The instance record with the store's ``version``, or ``None`` with its problems appended."""
    rec = parse_record(raw, iid, None, INSTANCE_REQUIRED, problems)
    if rec is None:
        return None
    if rec.get('id') != iid:
        problems.append({'instance': iid, 'path': None, 'key': 'id',
                         'reason': 'the record carries id %r' % (rec.get('id'),)})
        return None
    if not _type_problems(iid, None, _records.instance_problems(rec), problems):
        return None
    rec['version'] = int(version or 0)
    return rec


def parse_items(iid: str, rows, problems: list) -> dict:
    """``{path: item}`` of the rows ``(path, raw)`` that are sound; problems appended for the others."""
    items = {}
    for path, raw in rows:
        rec = parse_record(raw, iid, path, ITEM_REQUIRED, problems)
        if rec is None:
            continue
        if rec.get('path') != path:
            problems.append({'instance': iid, 'path': path, 'key': 'path',
                             'reason': 'the record carries path %r' % (rec.get('path'),)})
            continue
        if not _type_problems(iid, path, _records.item_problems(rec), problems):
            continue
        items[path] = rec
    return items


def _is_time(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


_LEASE_TYPES = (
    ('epoch', _is_count, 'a whole number >= 0'),
    ('token', _str_or_none, 'a string or null'),
    ('expires', _is_time, 'a UNIX time or null'),
    ('owner', lambda v: v is None or isinstance(v, dict), 'an object or null'),
)


def parse_lease(url: str, iid: str, raw) -> Lease | None:
    """The lease of ``iid`` (``None`` without a record); a bad lease record raises :class:`CorruptRecord` with
    ``key`` ``'lease'`` for this instance only."""
    if raw is None:
        return None
    problems: list = []
    rec = parse_record(raw, iid, None, ('epoch',), problems, record='lease')
    if rec is not None:
        for key, test, what in _LEASE_TYPES:
            if key in rec and not test(rec[key]):
                problems.append({'instance': iid, 'path': None, 'key': key, 'record': 'lease',
                                 'reason': 'key %r is %s, expected %s' % (key, _shown(rec[key]), what)})
    if problems:
        for p in problems:
            p['key'] = 'lease'
        raise CorruptRecord(url, problems)
    return Lease(iid=iid, token=rec.get('token') or '', epoch=int(rec['epoch']), owner=rec.get('owner') or {},
                 expires=float(rec.get('expires') or 0))
