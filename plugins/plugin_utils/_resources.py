# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resources and host limits: who holds what, who waits for what, and who may take it now. Pure: no I/O.

A **resource** is a named, counted lock with a capacity, kept in the state store (``resource`` records), so every
controller on the store sees the same numbers. A job names what it needs (``resources: {db: 1}``); a job also
takes one **slot** of its host, which counts against the host's ``jobnet_max_running``.

Nothing is counted. The store keeps an **index** with one entry per job item that holds or waits, and that entry
is a function of the item record alone (:func:`entry_of`): the store rewrites it in the same transaction as the
item, whatever operation changed the item (launch, end, recovery, an operator's stop). Occupancy is the sum over
the ``hold`` entries, so it cannot drift from the records; recovery rebuilds an instance's entries from its
recovered items (``Store.update(..., reindex=True)``).

- **hold**: the job's attempt is being launched, runs, or its real state is unknown (``queuing_env_down`` with an
  attempt that was started: it may still run on its host). It holds ``needs`` (recorded on the item when the
  attempt was launched) and one slot of its host.
- **wait**: the job is ``queuing`` (its start conditions are met) and was refused a resource or a slot. Waiters
  are served in a durable order (:func:`order_key`): force-started first, then higher ``priority``, then the time
  the job became ready, then instance and path. The order lives in the item (``ready_at``), so it survives a
  controller kill and a recovery.

The rule (:meth:`Occupancy.take`): a job may take a resource only if, after the units that every **earlier waiter
of that resource** is waiting for, enough free units remain. A waiter reserves only what it waits for: a job kept
back by its host's limit does not hold back a resource it has not been refused. So a job that needs 2 units is not
starved by a stream of jobs that need 1: once it waits, later jobs leave the 2 units to it.
"""

from __future__ import annotations

import re

#: a resource name: letters, digits, ``_ . -``, up to 64 characters (no ``:``, so it never clashes with a slot)
RESOURCE_NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z')
#: the largest capacity of a resource and the largest need of one job
CAPACITY_MAX = 100000
#: the range of a job's priority
PRIORITY_MIN, PRIORITY_MAX = -1000, 1000

HOLD = 'hold'
WAIT = 'wait'
#: what a waiter waiting for its host's slot lists among what it waits for
SLOT = 'slot'

_QUEUING = 'queuing'
_RUNNING = 'running'
_ENV_DOWN = 'queuing_env_down'
_LAUNCHING = 'launching'
_LAUNCHED = 'launched'


class ResourceError(ValueError):
    """A resource definition or a job's need that is not acceptable (the message says what and where)."""


# ---------------------------------------------------------------------------------------------------- checks
def check_name(name, where='resource'):
    if not isinstance(name, str) or not RESOURCE_NAME_RE.fullmatch(name):
        raise ResourceError('%s name %r is not valid: letters, digits, "_", "." and "-", starting with a letter or '
                            'a digit, up to 64 characters' % (where, name))
    return name


def check_capacity(value, name):
    if isinstance(value, str) and re.fullmatch(r'\s*[0-9]{1,7}\s*', value):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResourceError('the capacity of resource %s must be a whole number from 0 to %d, got %r'
                            % (name, CAPACITY_MAX, value))
    if value < 0 or value > CAPACITY_MAX:
        raise ResourceError('the capacity of resource %s must be from 0 to %d, got %d' % (name, CAPACITY_MAX, value))
    return value


def normalise_needs(value):
    """A job's ``resources``: ``{name: units}`` or a list of names (1 unit each) -> ``{name: units}``.

    Raises ``TypeError`` / ``ValueError`` with the problem (the frame checks add where).
    """
    if value is None:
        return {}
    if isinstance(value, (list, tuple)):
        out = {}
        for entry in value:
            if not isinstance(entry, str):
                raise TypeError('a list of resources holds names, got %r; give {name: units} for more than 1 unit'
                                % (entry,))
            check_name(entry)
            if entry in out:
                raise ValueError('resource %s is listed twice; give {%s: 2} for 2 units' % (entry, entry))
            out[entry] = 1
        return out
    if not isinstance(value, dict):
        raise TypeError('expected a mapping of resource names to units ({db: 1}) or a list of names, got %s'
                        % type(value).__name__)
    out = {}
    for name, units in value.items():
        check_name(name)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1 or units > CAPACITY_MAX:
            raise ValueError('resource %s: expected a whole number of units from 1 to %d, got %r'
                             % (name, CAPACITY_MAX, units))
        out[name] = units
    return out


def check_priority(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('expected a whole number from %d to %d (higher is served first), got %r'
                        % (PRIORITY_MIN, PRIORITY_MAX, value))
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise ValueError('expected a whole number from %d to %d, got %d' % (PRIORITY_MIN, PRIORITY_MAX, value))
    return value


def capacities_of(stored, declared=None):
    """{name: capacity} a frame's needs are checked against: the store's definitions (``{name: record}``), else the
    inventory's declarations (``{name: capacity}``); the store wins."""
    out = dict(declared or {})
    out.update((name, rec['capacity']) for name, rec in (stored or {}).items())
    return out


def needs_beyond(defn, capacities):
    """The problems of a frame definition's needs against ``capacities`` ({name: capacity}): a need larger than
    a capacity, or a resource nobody defined. ``[]`` when every job can be served."""
    problems = []
    for d in defn.get('items') or []:
        for name, units in sorted((d.get('resources') or {}).items()):
            if name not in capacities:
                problems.append('job %s needs resource %s, which is not defined: define it with ansible-playbook '
                                'jobnet.scheduler.resource -e name=%s -e capacity=N (or jobnet_resources in the '
                                'inventory)' % (d['path'], name, name))
            elif units > capacities[name]:
                problems.append('job %s needs %d of resource %s, whose capacity is %d: it could never start'
                                % (d['path'], units, name, capacities[name]))
    return problems


# ---------------------------------------------------------------------------------------------------- the index
def index_key(iid, path):
    """The key of an item's index entry (a tab never appears in an instance id or a path)."""
    return '%s\t%s' % (iid, path)


def holds_a_slot(item):
    """Whether a job holds its resources and a slot of its host: it runs, its launch is in flight, or its attempt's
    real state is unknown (``queuing_env_down`` with an attempt that was started, after a recovery skip or a lost
    host): such an attempt may still run there, so it keeps what it holds until a recovery resolves it."""
    if item.get('kind') not in (None, 'job'):
        return False
    if item.get('phase') == _LAUNCHING or item['state'] == _RUNNING:
        return True
    return item['state'] == _ENV_DOWN and bool(item.get('attempt_id')) and item.get('phase') == _LAUNCHED


def entry_of(iid, item):
    """The index entry of a job item (``None``: it neither holds nor waits). A function of the record alone."""
    if item.get('kind') != 'job':
        return None
    if holds_a_slot(item):
        if item.get('unclaimed') and item.get('unclaimed') == item.get('attempt_id'):
            return None   # recovery with resource_reset: the original's behaviour, nothing held
        return {'kind': HOLD, 'iid': iid, 'path': item['path'], 'host': item.get('host'),
                'attempt_id': item.get('attempt_id'), 'needs': dict(item.get('needs') or {}),
                'state': item['state'] if item['state'] == _ENV_DOWN else _RUNNING}
    waiting = item.get('waiting')
    if item['state'] == _QUEUING and item.get('phase') is None and waiting:
        return {'kind': WAIT, 'iid': iid, 'path': item['path'], 'host': item.get('host'),
                'needs': dict(waiting.get('needs') or {}), 'for': list(waiting.get('for') or []),
                'priority': int(waiting.get('priority') or 0), 'ready_at': item.get('ready_at') or '',
                'rank': int(waiting.get('rank') or 0), 'forced': bool(waiting.get('forced'))}
    return None


def order_key(entry):
    """The serving order of waiters: force-started first, higher priority, earlier ready, then by instance and, in
    one instance, in the frame's order."""
    return (not entry.get('forced'), -int(entry.get('priority') or 0), entry.get('ready_at') or '~',
            entry.get('iid') or '', int(entry.get('rank') or 0), entry.get('path') or '')


def current_entries(entries, iid=None, items=None):
    """{key: entry} of the whole store as one transaction of instance ``iid`` sees it: the index's entries of the
    other instances, and those of ``iid`` derived from its current ``items`` (not from the index, which holds
    them as they were before this transaction)."""
    out = {key: e for key, e in (entries or {}).items()
           if isinstance(e, dict) and (iid is None or e.get('iid') != iid)}
    for path, item in (items or {}).items():
        entry = entry_of(iid, item)
        if entry is not None:
            out[index_key(iid, path)] = entry
    return out


# ---------------------------------------------------------------------------------------------------- deciding
class Occupancy:
    """What is held and who waits, over every instance of the store, as one launch transaction sees it.

    ``entries`` is the store's index ({key: entry}); ``capacities`` {name: capacity}; ``iid`` and ``items`` the
    instance this transaction decides for: its entries are taken from its current items rather than the index.
    """

    def __init__(self, entries, capacities, iid=None, items=None):
        self.capacities = dict(capacities or {})
        self.held = {}       # resource -> units held
        self.slots = {}      # host -> jobs holding a slot there
        self.holders = []
        self.waiters = []    # the waiters; those of the host picking are the candidates of take(), decided again
        for entry in current_entries(entries, iid, items).values():
            self._add(entry)

    def _add(self, entry):
        if entry.get('kind') == HOLD:
            self.holders.append(entry)
            for name, units in (entry.get('needs') or {}).items():
                self.held[name] = self.held.get(name, 0) + int(units)
            host = entry.get('host')
            self.slots[host] = self.slots.get(host, 0) + 1
        elif entry.get('kind') == WAIT:
            self.waiters.append(entry)

    def free(self, name):
        return self.capacities.get(name, 0) - self.held.get(name, 0)

    def take(self, host, limit, candidates):
        """Decide, in serving order, which of this instance's ``candidates`` on ``host`` start now.

        ``candidates``: [{'path', 'needs', 'priority', 'ready_at', 'forced', 'iid'}]; ``limit`` the host's limit
        (``None``: none). Returns ``[(candidate, blocked)]`` in serving order, ``blocked`` ``[]`` for a job that
        starts (its units are taken here, for the candidates after it) or the list of what it waits for: resource
        names, and :data:`SLOT` for its host's limit. A force-started job passes the host's limit, never a
        resource's capacity.
        """
        reserved = {}       # resource -> units earlier waiters wait for
        reserved_slots = {}  # host -> earlier waiters waiting for a slot there
        mine = [dict(c, mine=True) for c in candidates]
        deciding = {(c.get('iid'), c.get('path')) for c in candidates}
        others = [w for w in self.waiters if (w.get('iid'), w.get('path')) not in deciding]
        queue = sorted(others + mine, key=order_key)
        out = []
        for entry in queue:
            if not entry.get('mine'):
                for name in entry.get('for') or []:
                    if name == SLOT:
                        reserved_slots[entry.get('host')] = reserved_slots.get(entry.get('host'), 0) + 1
                    else:
                        reserved[name] = reserved.get(name, 0) + int((entry.get('needs') or {}).get(name, 0))
                continue
            blocked = []
            for name, units in sorted(entry['needs'].items()):
                if self.free(name) - reserved.get(name, 0) < units:
                    blocked.append(name)
            if (limit is not None and not entry.get('forced')
                    and limit - self.slots.get(host, 0) - reserved_slots.get(host, 0) < 1):
                blocked.append(SLOT)
            if not blocked:
                for name, units in entry['needs'].items():
                    self.held[name] = self.held.get(name, 0) + units
                self.slots[host] = self.slots.get(host, 0) + 1
            else:
                for name in blocked:
                    if name == SLOT:
                        reserved_slots[host] = reserved_slots.get(host, 0) + 1
                    else:
                        reserved[name] = reserved.get(name, 0) + entry['needs'][name]
            out.append((entry, blocked))
        return out

    def why(self, host, limit, needs, blocked):
        """The message of a job that waits: what it waits for (no counts that change while it waits: the message
        is rewritten only when what it waits for changes; the status shows the holders)."""
        parts = []
        for name in blocked:
            if name == SLOT:
                parts.append('a free slot on %s (jobnet_max_running %s)' % (host, limit))
            elif name not in self.capacities:
                parts.append('resource %s (not defined)' % name)
            else:
                parts.append('resource %s (needs %d, capacity %d)' % (name, needs.get(name, 0), self.capacities[name]))
        return 'waiting for ' + ', '.join(parts)


def stuck(iid, items, entries):
    """{path: [holders]} of this instance's waiting jobs that nothing but a recovery can free: everything they wait
    for is held, and only by attempts whose real state is unknown (``queuing_env_down``: after a recovery skip or a
    lost host, they are resolved by the next recovery, never by a driver). A job waiting for a resource nobody
    holds (not defined, or reserved by earlier waiters) is not stuck: the driver waits for it."""
    holders = {key: e for key, e in current_entries(entries, iid, items).items() if e.get('kind') == HOLD}
    unknown = {key for key, e in holders.items() if e.get('state') == _ENV_DOWN}
    out = {}
    for path, item in items.items():
        waiting = item.get('waiting')
        if item.get('kind') != 'job' or item['state'] != _QUEUING or not waiting:
            continue
        blockers = []
        free = True
        for name in waiting.get('for') or []:
            if name == SLOT:
                held = [k for k, e in holders.items() if e.get('host') == item.get('host')]
            else:
                held = [k for k, e in holders.items() if name in (e.get('needs') or {})]
            if not held or any(k not in unknown for k in held):
                free = False
                break
            blockers.extend(held)
        if not free or not blockers:
            continue
        out[path] = sorted({'%s %s' % (holders[k]['iid'], holders[k]['path']) for k in blockers})
    return out


def status(entries, capacities):
    """Each resource for the status: {name: {'capacity', 'held', 'holders': [...], 'waiters': [... in order]}},
    and each host's slots ({host: {'running', 'holders', 'waiters'}})."""
    resources = {name: {'capacity': cap, 'held': 0, 'holders': [], 'waiters': []}
                 for name, cap in sorted((capacities or {}).items())}
    hosts = {}

    def resource(name):   # a name nobody defined shows with capacity None
        return resources.setdefault(name, {'capacity': None, 'held': 0, 'holders': [], 'waiters': []})

    def slots(host):
        return hosts.setdefault(host, {'running': 0, 'holders': [], 'waiters': []})
    ordered = sorted((e for e in (entries or {}).values() if isinstance(e, dict)),
                     key=lambda e: (e.get('kind') != HOLD, order_key(e)))
    for entry in ordered:
        who = {'instance': entry.get('iid'), 'path': entry.get('path'), 'host': entry.get('host')}
        if entry.get('kind') == HOLD:
            slot = slots(entry.get('host'))
            slot['running'] += 1
            slot['holders'].append(who)
            for name, units in sorted((entry.get('needs') or {}).items()):
                res = resource(name)
                res['held'] += int(units)
                res['holders'].append(dict(who, units=int(units)))
        elif entry.get('kind') == WAIT:
            for name in entry.get('for') or []:
                if name == SLOT:
                    slots(entry.get('host'))['waiters'].append(who)
                    continue
                units = int((entry.get('needs') or {}).get(name, 0))
                resource(name)['waiters'].append(dict(who, units=units, priority=int(entry.get('priority') or 0)))
    return resources, hosts
