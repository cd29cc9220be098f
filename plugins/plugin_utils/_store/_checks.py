# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record checks of the state store, the same for every backend.

- **In** (what callers hand in): ids, required keys, plain JSON; a bad record raises :class:`InvalidRecord` and
  nothing is written.
- **Out** (what is read back): JSON, required keys and the **types** of the keys the scheduler relies on; every
  bad record is a problem dict ``{"instance", "path", "key", "reason"}`` (``path`` ``None`` for the instance
  record, ``key`` ``None`` when the record does not parse at all), gathered into a :class:`CorruptRecord` by the
  caller. A bad record is never changed or deleted.
"""

from __future__ import annotations

import json

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._states import State
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._common import (
    _STORE_KEYS_INSTANCE,
    INSTANCE_REQUIRED,
    ITEM_REQUIRED,
    SCHEMA,
    CorruptRecord,
    InvalidRecord,
    Lease,
    _dumps,
    parse_iid,
)
from ansible_collections.jobnet.scheduler.plugins.plugin_utils._time import epoch_isotime

KINDS = ('job', 'net')
"""The kinds of an item record (the frame itself is the instance record)."""

PHASES = (None, 'launching', 'launched')
"""The launch phases of a job's attempt (``None``: no attempt in flight)."""

STATES = frozenset(s.value for s in State)


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


def run_fn(iid: str, fn, instance: dict, items: dict, version: int):
    """Call an update function and check what it returns.

    ``fn(instance, items)`` returns ``(instance or None, {path: item or None}, result)`` or the same with a
    fourth element, a list of event dicts. The answer is ``(instance JSON or None, [(path, JSON or None)],
    result, [event JSON])``; anything else raises :class:`InvalidRecord` before a byte is written.
    """
    out = fn(instance, items)
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
    if changed:
        if not isinstance(changed, dict):
            raise InvalidRecord('the update function for %s must return items as {path: item}, got %s; '
                                'nothing was written' % (iid, type(changed).__name__))
        for path, item in changed.items():
            if item is None:
                if not isinstance(path, str):
                    raise InvalidRecord('invalid item path %r in instance %s' % (path, iid))
                writes.append((path, None))
                continue
            it = check_item_in(iid, path, item)
            it['updated'] = now
            it['version'] = version
            writes.append((path, _dumps(it, 'item %r of instance %s' % (path, iid))))
    return inst_json, writes, result, prepare_events(iid, events)


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


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    if len(text) > 60:
        text = text[:57] + '...'
    return '%s (%s)' % (text, 'null' if value is None else type(value).__name__)


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _str_or_none(v) -> bool:
    return v is None or isinstance(v, str)


# key -> (test, what it must be): checked when the key is present (required keys are checked before)
_ITEM_TYPES = (
    ('path', lambda v: isinstance(v, str) and v != '', 'a non-empty string'),
    ('kind', lambda v: v in KINDS, "'job' or 'net'"),
    ('state', lambda v: isinstance(v, str) and v in STATES, 'a known state'),
    ('host', _str_or_none, 'a string or null'),
    ('parent', _str_or_none, 'a string or null'),
    ('attempt', _is_count, 'a whole number >= 0'),
    ('attempt_id', _str_or_none, 'a string or null'),
    ('phase', lambda v: v in PHASES, "null, 'launching' or 'launched'"),
    ('flags', lambda v: isinstance(v, dict), 'an object'),
    ('opened', lambda v: isinstance(v, bool), 'true or false'),
)

_INSTANCE_TYPES = (
    ('state', lambda v: isinstance(v, str) and v in STATES, 'a known state'),
    ('flags', lambda v: isinstance(v, dict), 'an object'),
    ('opened', lambda v: isinstance(v, bool), 'true or false'),
    ('definition', lambda v: isinstance(v, dict), 'an object'),
)


def _type_problems(rec: dict, table, iid, path, problems: list) -> bool:
    ok = True
    for key, test, what in table:
        if key in rec and not test(rec[key]):
            problems.append({'instance': iid, 'path': path, 'key': key,
                             'reason': 'key %r is %s, expected %s' % (key, _shown(rec[key]), what)})
            ok = False
    return ok


def _definition_problems(iid, defn: dict, problems: list) -> bool:
    if 'items' not in defn:
        return True
    items = defn['items']
    if not isinstance(items, list):
        problems.append({'instance': iid, 'path': None, 'key': 'definition.items',
                         'reason': 'key %r is %s, expected a list of items' % ('definition.items', _shown(items))})
        return False
    ok = True
    for i, d in enumerate(items):
        reason = None
        if not isinstance(d, dict):
            reason = 'is %s, expected an object' % _shown(d)
        elif not isinstance(d.get('path'), str) or not d['path']:
            reason = 'has path %s, expected a non-empty string' % _shown(d.get('path'))
        elif d.get('kind') not in KINDS:
            reason = "has kind %s, expected 'job' or 'net'" % _shown(d.get('kind'))
        if reason:
            problems.append({'instance': iid, 'path': None, 'key': 'definition.items',
                             'reason': 'definition item #%d %s' % (i, reason)})
            ok = False
    return ok


def parse_instance(iid: str, raw, version, problems: list) -> dict | None:
    """The instance record with the store's ``version``, or ``None`` with its problems appended."""
    rec = parse_record(raw, iid, None, INSTANCE_REQUIRED, problems)
    if rec is None:
        return None
    if rec.get('id') != iid:
        problems.append({'instance': iid, 'path': None, 'key': 'id',
                         'reason': 'the record carries id %r' % (rec.get('id'),)})
        return None
    ok = _type_problems(rec, _INSTANCE_TYPES, iid, None, problems)
    if isinstance(rec.get('definition'), dict) and not _definition_problems(iid, rec['definition'], problems):
        ok = False
    if not ok:
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
        if not _type_problems(rec, _ITEM_TYPES, iid, path, problems):
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
