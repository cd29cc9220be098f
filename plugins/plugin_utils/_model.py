# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Frame definitions: read, validate and normalise.

A frame file is YAML (see docs/frames.md). :func:`load_frame_file` reads it and remembers the line of every
mapping; :func:`normalise` validates it completely before anything is recorded and returns the plain,
JSON-serialisable definition stored with a frame instance. Every problem names the frame, the item path and
the line. Per-mapping checks (known keys, required keys, types, mutually exclusive keys) use Ansible's own
``ArgumentSpecValidator``; the graph checks (duplicates, dependencies, cycles, hosts) are done here.
"""

from __future__ import annotations

import collections
import datetime
import difflib
import hashlib
import os
import re

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

FRAME_NAME_RE = re.compile(r'^[a-z0-9][a-z0-9_-]{0,63}$')
ITEM_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$')
ENV_NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
TIME_RE = re.compile(r'^([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$')
DATE_RE = re.compile(r'^(\d{4})-?(\d{2})-?(\d{2})$')
ATTEMPT_ID_RE = re.compile(r'^[A-Za-z0-9._-]{1,128}$')
ATTEMPT_ID_MAX = 128

OPTION_NAMES = ('recovery', 'end_recover', 'auto_rerun', 'recovery_skip')
MAX_PROBLEMS_SHOWN = 10


# --------------------------------------------------------------------------------------------------------
# Errors

class FrameError(ValueError):
    """An invalid frame definition.

    ``frame``, ``item``, ``problem``, ``source`` and ``line`` describe the first problem; ``problems`` lists
    every problem found (each a FrameError of its own).
    """

    def __init__(self, problem, *, frame=None, item=None, source=None, line=None, problems=None):
        self.frame = frame
        self.item = item
        self.problem = problem
        self.source = source
        self.line = line
        self.problems = list(problems) if problems else [self]
        super().__init__(self._render())

    def _location(self, with_source=True):
        parts = []
        if with_source and self.source:
            parts.append(str(self.source))
        if self.line:
            parts.append('line %d' % self.line)
        return ' '.join(parts)

    def one_line(self):
        """This problem alone, with frame, file, line and item."""
        head = 'frame %r' % self.frame if self.frame else 'frame'
        location = self._location()
        if location:
            head += ' (%s)' % location
        if self.item:
            head += ', item %r' % self.item
        return '%s: %s' % (head, self.problem)

    def _render(self):
        if len(self.problems) <= 1:
            return self.one_line()
        head = 'frame %r' % self.frame if self.frame else 'frame'
        if self.source:
            head += ' (%s)' % self.source
        lines = ['%s: %d problems' % (head, len(self.problems))]
        for problem in self.problems[:MAX_PROBLEMS_SHOWN]:
            text = problem.problem
            if problem.item:
                text = 'item %r: %s' % (problem.item, text)
            if problem.line:
                text = 'line %d, %s' % (problem.line, text)
            lines.append('  - ' + text)
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            lines.append('  - ... and %d more' % (len(self.problems) - MAX_PROBLEMS_SHOWN))
        return '\n'.join(lines)


# --------------------------------------------------------------------------------------------------------
# Reading YAML with line numbers

_INT_TAG = 'tag:yaml.org,2002:int'
_FLOAT_TAG = 'tag:yaml.org,2002:float'
_TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp'
# YAML 1.1 without base-60 numbers: an unquoted 23:00 stays the string '23:00' instead of the int 1380.
_INT_RE = re.compile(r'''^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$''', re.X)
_FLOAT_RE = re.compile(r'''^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$''', re.X)


class _Lines:
    """Where each mapping of one loaded file starts, and where its keys are."""

    def __init__(self, source):
        self.source = source
        self.maps = {}       # id(mapping) -> (mapping, line, {key: line})
        self.problems = []   # (line, message) found while reading, e.g. duplicate keys

    def record(self, mapping, line, key_lines):
        self.maps[id(mapping)] = (mapping, line, key_lines)

    def line(self, mapping, key=None):
        entry = self.maps.get(id(mapping))
        if entry is None or entry[0] is not mapping:
            return None
        if key is not None and key in entry[2]:
            return entry[2][key]
        return entry[1]


class _NoLines:
    source = None
    problems = ()

    def line(self, mapping, key=None):
        return None


# Side table: the last files loaded, keyed by id() of the returned top-level mapping (which it keeps alive,
# so the id cannot be reused while the entry exists).
_LOADED = collections.OrderedDict()
_LOADED_MAX = 32


class _FrameLoader(yaml.SafeLoader):
    """SafeLoader that records the line of every mapping and of its keys, and flags duplicate keys."""

    yaml_implicit_resolvers = {}

    def __init__(self, stream, lines):
        super().__init__(stream)
        self._lines = lines

    def construct_frame_map(self, node):
        data = {}
        yield data
        data.update(self.construct_mapping(node))
        key_lines = {}
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node)
            try:
                hash(key)
            except TypeError:
                continue
            line = key_node.start_mark.line + 1
            if key in key_lines:
                self._lines.problems.append(
                    (line, 'duplicate key %r (lines %d and %d); the last one would win'
                     % (key, key_lines[key], line)))
            key_lines[key] = line
        self._lines.record(data, node.start_mark.line + 1, key_lines)


for _first, _resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
    _kept = []
    for _tag, _regexp in _resolvers:
        if _tag == _TIMESTAMP_TAG:
            continue
        if _tag == _INT_TAG:
            _regexp = _INT_RE
        elif _tag == _FLOAT_TAG:
            _regexp = _FLOAT_RE
        _kept.append((_tag, _regexp))
    _FrameLoader.yaml_implicit_resolvers[_first] = _kept
_FrameLoader.add_constructor('tag:yaml.org,2002:map', _FrameLoader.construct_frame_map)


def load_frame_file(path):
    """Read a frame file; return its top-level mapping (plain dicts and lists).

    Line numbers are kept in a side table that :func:`normalise` uses. Raises FrameError for a missing or
    unreadable file, a YAML syntax error, or a top level that is not a mapping.
    """
    source = os.fspath(path)
    try:
        with open(source, 'rb') as handle:
            text = handle.read()
    except OSError as exc:
        raise FrameError('cannot read the frame file: %s' % (exc.strerror or exc), source=source) from None
    lines = _Lines(source)
    loader = _FrameLoader(text, lines)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        line = mark.line + 1 if mark is not None else None
        detail = ': '.join(str(part) for part in (getattr(exc, 'context', None), getattr(exc, 'problem', None))
                           if part) or str(exc)
        if mark is not None:
            detail += ' (column %d)' % (mark.column + 1)
        raise FrameError('YAML syntax error: %s' % detail, source=source, line=line) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise FrameError('the top level must be a mapping with a "frame" key, not %s' % _type_name(data),
                         source=source, line=1)
    _LOADED[id(data)] = (data, lines)
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return data


def _lines_for(raw):
    entry = _LOADED.get(id(raw))
    if entry is not None and entry[0] is raw:
        return entry[1]
    return _NoLines()


# --------------------------------------------------------------------------------------------------------
# Type checkers used in the argument specs. Ansible calls them with the value and wraps what they raise.

def _type_name(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, int):
        return 'an integer'
    if isinstance(value, float):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, (list, tuple)):
        return 'a list'
    return type(value).__name__


def _describe(value):
    if isinstance(value, (dict, list, tuple)):
        return _type_name(value)
    return '%s %r' % (_type_name(value), value)


def _scalar_text(value, what):
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError('expected %s, got %s' % (what, _describe(value)))


def frame_name(value):
    value = _scalar_text(value, 'a frame name')
    if not FRAME_NAME_RE.match(value):
        raise ValueError('%r is not a valid frame name: use lower-case letters, digits, "_" and "-", starting '
                         'with a letter or digit, at most 64 characters' % value)
    return value


def item_name(value):
    value = _scalar_text(value, 'a name')
    if not ITEM_NAME_RE.match(value):
        raise ValueError('%r is not a valid name: use letters, digits, "_" and "-", starting with a letter or '
                         'digit, at most 64 characters (no dots, no slashes)' % value)
    return value


def text(value):
    return _scalar_text(value, 'a string')


def host_name(value):
    value = _scalar_text(value, 'an inventory host name')
    if not value.strip():
        raise ValueError('must not be empty')
    return value


def flag(value):
    if isinstance(value, bool):
        return value
    raise TypeError('expected true or false, got %s' % _describe(value))


def argv(value):
    if isinstance(value, str):
        raise TypeError('expected a list of strings (the argv), got a string; use "shell" for a command line')
    if not isinstance(value, (list, tuple)):
        raise TypeError('expected a list of strings (the argv), got %s' % _describe(value))
    if not value:
        raise ValueError('must not be empty')
    result = []
    for index, element in enumerate(value):
        if isinstance(element, bool) or not isinstance(element, (str, int, float)):
            raise TypeError('element %d: expected a string, got %s' % (index, _describe(element)))
        result.append(str(element))
    if not result[0]:
        raise ValueError('element 0 (the program) must not be empty')
    return result


def shell_line(value):
    value = _scalar_text(value, 'a command line')
    if not value.strip():
        raise ValueError('must not be empty')
    return value


def environment(value):
    if not isinstance(value, dict):
        raise TypeError('expected a mapping of variable names to strings, got %s' % _describe(value))
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            raise ValueError('%r is not a valid environment variable name' % (key,))
        if isinstance(item, bool):
            raise TypeError('variable %s: got the boolean %r; quote it to pass a string' % (key, item))
        if not isinstance(item, (str, int, float)):
            raise TypeError('variable %s: expected a string, got %s' % (key, _describe(item)))
        result[key] = str(item)
    return result


def positive_int(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('expected a whole number of seconds greater than 0, got %s' % _describe(value))
    if value <= 0:
        raise ValueError('expected a whole number of seconds greater than 0, got %d' % value)
    return value


def name_list(value):
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError('expected a name or a list of names, got %s' % _describe(value))
    result = []
    for index, element in enumerate(value):
        name = _scalar_text(element, 'a name (element %d)' % index)
        if name not in result:
            result.append(name)
    return result


def item_list(value):
    if not isinstance(value, (list, tuple)):
        raise TypeError('expected a list of mappings, got %s' % _describe(value))
    return value


def mapping(value):
    if not isinstance(value, dict):
        raise TypeError('expected a mapping, got %s' % _describe(value))
    return value


def start_at(value):
    """Canonical start_at: 'HH:MM:SS' (a time on the operation date) or an ISO-8601 datetime with offset."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError('%s has no UTC offset; add one (e.g. +09:00 or Z)' % value.isoformat())
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.strftime('%H:%M:%S')
    if isinstance(value, int) and not isinstance(value, bool):
        raise TypeError('expected "HH:MM", "HH:MM:SS" or an ISO-8601 datetime with offset, got the number %d '
                        '(quote times in YAML)' % value)
    if not isinstance(value, str):
        raise TypeError('expected "HH:MM", "HH:MM:SS" or an ISO-8601 datetime with offset, got %s'
                        % _describe(value))
    match = TIME_RE.match(value.strip())
    if match:
        hour, minute, second = match.groups()
        return '%02d:%02d:%02d' % (int(hour), int(minute), int(second or 0))
    text_value = value.strip()
    if text_value.endswith(('Z', 'z')):
        text_value = text_value[:-1] + '+00:00'
    try:
        parsed = datetime.datetime.fromisoformat(text_value)
    except ValueError:
        raise ValueError('%r is neither "HH:MM", "HH:MM:SS" nor an ISO-8601 datetime with offset' % value) from None
    if parsed.tzinfo is None:
        raise ValueError('%r has no UTC offset; add one (e.g. +09:00 or Z)' % value)
    return parsed.isoformat()


# --------------------------------------------------------------------------------------------------------
# Argument specs, one per kind of mapping

FRAME_SPEC = {
    'frame': {'type': frame_name, 'required': True},
    'description': {'type': text},
    'start_at': {'type': start_at},
    'options': {'type': mapping},
    'jobs': {'type': item_list},
    'nets': {'type': item_list},
}

OPTIONS_SPEC = {name: {'type': flag} for name in OPTION_NAMES}

NET_SPEC = {
    'name': {'type': item_name, 'required': True},
    'description': {'type': text},
    'after': {'type': name_list},
    'skip': {'type': flag, 'default': False},
    'pause': {'type': flag, 'default': False},
    'jobs': {'type': item_list},
    'nets': {'type': item_list},
}

JOB_SPEC = {
    'name': {'type': item_name, 'required': True},
    'description': {'type': text},
    'host': {'type': host_name, 'required': True},
    'command': {'type': argv},
    'shell': {'type': shell_line},
    'chdir': {'type': text},
    'env': {'type': environment},
    'timeout': {'type': positive_int},
    'after': {'type': name_list},
    'skip': {'type': flag, 'default': False},
    'pause': {'type': flag, 'default': False},
}

_VALIDATORS = {
    'frame': ArgumentSpecValidator(FRAME_SPEC),
    'options': ArgumentSpecValidator(OPTIONS_SPEC),
    'net': ArgumentSpecValidator(NET_SPEC),
    'job': ArgumentSpecValidator(JOB_SPEC, mutually_exclusive=[['command', 'shell']],
                                 required_one_of=[['command', 'shell']]),
}
_SPECS = {'frame': FRAME_SPEC, 'options': OPTIONS_SPEC, 'net': NET_SPEC, 'job': JOB_SPEC}

_TYPE_ERROR_RE = re.compile(r"^argument '(?P<key>[^']+)' is of type .*? and we were unable to convert to "
                            r"[^:]+: (?P<detail>.*)$", re.S)
_MISSING_RE = re.compile(r'^missing required arguments: (?P<keys>.*)$')


# --------------------------------------------------------------------------------------------------------
# Validation and normalisation

class _Collector:
    def __init__(self, lines, source):
        self.lines = lines
        self.source = source
        self.frame = None
        self.problems = []   # (line, item, message)

    def add(self, message, item=None, mapping=None, key=None, line=None):
        if line is None and mapping is not None:
            line = self.lines.line(mapping, key)
        self.problems.append((line, item, message))

    def error(self):
        ordered = sorted(self.problems, key=lambda p: (p[0] is None, p[0] or 0))
        problems = [FrameError(message, frame=self.frame, item=item, source=self.source, line=line)
                    for line, item, message in ordered]
        first = problems[0]
        return FrameError(first.problem, frame=first.frame, item=first.item, source=first.source,
                          line=first.line, problems=problems)


def _suggest(word, choices):
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _few(names, limit=10):
    names = sorted(names)
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += ', ... (%d in all)' % len(names)
    return shown or 'none'


def _check_mapping(kind, raw, collector, item, prefix=''):
    """Validate one mapping with its argument spec; return (params, bad_keys)."""
    spec = _SPECS[kind]
    params = {}
    bad = set()
    for key, value in raw.items():
        if not isinstance(key, str):
            collector.add('key %s%r is not a string' % (prefix, key), item, raw)
            continue
        if value is None and not spec.get(key, {}).get('required'):
            continue   # an empty value is the same as leaving the key out
        params[key] = value
    result = _VALIDATORS[kind].validate(params)
    guesses = set()
    for key in sorted(result.unsupported_parameters, key=str):
        bad.add(key)
        guess = _suggest(key, spec)
        guesses.add(guess)
        hint = 'did you mean %r?' % guess if guess else 'known keys: %s' % ', '.join(sorted(spec))
        collector.add('unknown key %r (%s)' % (prefix + key, hint), item, raw, key)
    for error in result.errors:
        name = type(error).__name__
        message = str(error)
        if name == 'UnsupportedError':
            continue
        if name == 'ArgumentTypeError':
            match = _TYPE_ERROR_RE.match(message)
            if match:
                key = match.group('key')
                bad.add(key)
                collector.add('%s%s: %s' % (prefix, key, match.group('detail')), item, raw, key)
                continue
        elif name == 'RequiredError':
            match = _MISSING_RE.match(message)
            if match:
                for key in match.group('keys').split(', '):
                    bad.add(key)
                    collector.add('missing required key %r' % (prefix + key), item, raw)
                continue
        elif name == 'MutuallyExclusiveError':
            bad.update(('command', 'shell'))
            collector.add('give either "command" (an argv list) or "shell" (a command line), not both',
                          item, raw, 'shell')
            continue
        elif name == 'RequiredOneOfError':
            bad.update(('command', 'shell'))
            if guesses & {'command', 'shell'}:
                continue   # already reported as a misspelt key
            collector.add('give "command" (an argv list) or "shell" (a command line)', item, raw)
            continue
        collector.add(message, item, raw)
    validated = result.validated_parameters
    for key in spec:
        if key in bad:
            validated.pop(key, None)
    return validated, bad


def _join(parent, name):
    return '%s/%s' % (parent, name) if parent else name


def _check_level(collector, parent_path, raw_parent, items_out, hosts):
    """Validate the jobs and nets of one level (the frame or a net); append their items; return children."""
    entries = []   # (kind, raw, params, path, name)
    for kind, key in (('job', 'jobs'), ('net', 'nets')):
        listing = raw_parent.get(key)
        if not isinstance(listing, (list, tuple)):
            continue
        for index, raw in enumerate(listing):
            position = _join(parent_path, '%s[%d]' % (key, index))
            if not isinstance(raw, dict):
                collector.add('each entry of "%s" must be a mapping, got %s' % (key, _describe(raw)),
                              position, raw_parent, key)
                continue
            raw_name = raw.get('name')
            label = position
            if isinstance(raw_name, (str, int)) and not isinstance(raw_name, bool) and \
                    ITEM_NAME_RE.match(str(raw_name)):
                label = _join(parent_path, str(raw_name))
            params, bad = _check_mapping(kind, raw, collector, label)
            name = params.get('name') if 'name' not in bad else None
            entries.append((kind, raw, params, bad, label, name))

    # duplicates
    seen = {}
    for kind, raw, params, bad, label, name in entries:
        if name is None:
            continue
        if name in seen:
            first_line = collector.lines.line(seen[name])
            here = collector.lines.line(raw)
            where = ' (lines %d and %d)' % (first_line, here) if first_line and here else ''
            collector.add('duplicate name %r at this level%s' % (name, where), label, raw)
        else:
            seen[name] = raw
    known = set(seen)

    # per-item checks, dependencies
    graph = {}
    order = []
    for kind, raw, params, bad, label, name in entries:
        after = [] if 'after' in bad else (params.get('after') or [])
        deps = []
        for dep in after:
            if dep == name:
                collector.add('depends on itself', label, raw, 'after')
            elif dep not in known:
                others = sorted(known - {name})
                guess = _suggest(dep, others)
                hint = 'known at this level: %s' % _few(others)
                if guess and len(others) > 10:
                    hint = 'did you mean %r? %s' % (guess, hint)
                collector.add('unknown dependency %r (%s)' % (dep, hint), label, raw, 'after')
            else:
                deps.append(dep)
        if params.get('skip') and params.get('pause'):
            collector.add('skip and pause cannot both be true', label, raw, 'pause')
        if kind == 'job' and hosts is not None and 'host' not in bad and params.get('host') is not None \
                and params['host'] not in hosts:
            known_hosts = sorted(hosts)
            close = difflib.get_close_matches(params['host'], known_hosts, n=5, cutoff=0.5)
            rest = [h for h in known_hosts if h not in close]
            shown = sorted(close + rest[:max(0, 5 - len(close))])
            more = ', ...' if len(known_hosts) > len(shown) else ''
            collector.add('unknown host %r (inventory hosts: %s%s)'
                          % (params['host'], ', '.join(shown) or 'none', more), label, raw, 'host')
        if name is not None and seen.get(name) is raw:
            graph[name] = deps
            order.append(name)

    # cycles
    for cycle in _cycles(graph, order):
        first = cycle[0]
        collector.add('dependency cycle: %s (each waits for the next)' % ' -> '.join(cycle + [first]),
                      _join(parent_path, first), seen[first], 'after')

    # emit items: jobs first, then nets, each net followed by its subtree
    children = []
    for kind, raw, params, bad, label, name in entries:
        if name is None or seen.get(name) is not raw:
            continue
        path = _join(parent_path, name)
        children.append(path)
        common = {
            'path': path,
            'name': name,
            'kind': kind,
            'parent': parent_path,
            'after': [_join(parent_path, dep) for dep in (params.get('after') or []) if dep in known],
            'skip': bool(params.get('skip')),
            'pause': bool(params.get('pause')),
            'description': params.get('description'),
        }
        if kind == 'job':
            common.update({
                'host': params.get('host'),
                'command': params.get('command'),
                'shell': params.get('shell'),
                'chdir': params.get('chdir'),
                'env': dict(params.get('env') or {}),
                'timeout': params.get('timeout'),
            })
            items_out.append(_ordered_job(common))
        else:
            net = dict(common, children=[])
            items_out.append(_ordered_net(net))
            net_item = items_out[-1]
            net_item['children'] = _check_level(collector, path, raw, items_out, hosts)
            if not raw.get('jobs') and not raw.get('nets'):
                collector.add('a net needs at least one job or net', path, raw)
    return children


def _has_jobs(raw):
    if not isinstance(raw, dict):
        return False
    jobs, nets = raw.get('jobs'), raw.get('nets')
    if isinstance(jobs, (list, tuple)) and jobs:
        return True
    return isinstance(nets, (list, tuple)) and any(_has_jobs(net) for net in nets)


_JOB_KEYS = ('path', 'name', 'kind', 'parent', 'host', 'command', 'shell', 'chdir', 'env', 'timeout', 'after',
             'skip', 'pause', 'description')
_NET_KEYS = ('path', 'name', 'kind', 'parent', 'after', 'skip', 'pause', 'children', 'description')


def _ordered_job(item):
    return {key: item[key] for key in _JOB_KEYS}


def _ordered_net(item):
    return {key: item[key] for key in _NET_KEYS}


def _cycles(graph, order):
    """Yield one cycle (list of names, in 'waits for' order) per strongly connected component of size > 1."""
    index = {}
    low = {}
    stack = []
    on_stack = set()
    components = []
    counter = [0]

    def strongconnect(root):
        # iterative Tarjan
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter[0]
                    counter[0] += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(graph.get(succ, ()))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)

    for name in order:
        if name not in index:
            strongconnect(name)

    position = {name: i for i, name in enumerate(order)}
    result = []
    for component in components:
        if len(component) < 2:
            continue
        members = set(component)
        start = min(component, key=position.get)
        # shortest walk back to start inside the component (breadth first)
        previous = {start: None}
        queue = collections.deque([start])
        found = None
        while queue and found is None:
            node = queue.popleft()
            for succ in graph.get(node, ()):
                if succ not in members:
                    continue
                if succ == start:
                    found = node
                    break
                if succ not in previous:
                    previous[succ] = node
                    queue.append(succ)
        path = []
        node = found
        while node is not None:
            path.append(node)
            node = previous[node]
        path.reverse()
        result.append(path)
    result.sort(key=lambda cycle: position[cycle[0]])
    return result


def normalise(raw, *, hosts=None, source=None):
    """Validate a frame definition completely; return its normalised form (plain JSON-serialisable dicts).

    ``hosts``: the inventory host names jobs may name (None: not checked). ``source``: the file it came from,
    for messages (taken from :func:`load_frame_file` when not given). Raises FrameError listing every problem.
    """
    lines = _lines_for(raw)
    collector = _Collector(lines, source if source is not None else lines.source)
    if not isinstance(raw, dict):
        collector.add('the top level must be a mapping with a "frame" key, not %s' % _type_name(raw), line=1)
        raise collector.error()
    for line, message in lines.problems:
        collector.add(message, line=line)
    raw_frame = raw.get('frame')
    if isinstance(raw_frame, str):
        collector.frame = raw_frame
    host_set = None if hosts is None else {str(h) for h in hosts}

    params, bad = _check_mapping('frame', raw, collector, None)
    options = {}
    if 'options' not in bad and params.get('options') is not None:
        raw_options = raw['options']
        option_params, option_bad = _check_mapping('options', raw_options, collector, None, prefix='options.')
        options = {key: option_params[key] for key in OPTION_NAMES
                   if key in raw_options and raw_options[key] is not None and key not in option_bad}
    items = []
    _check_level(collector, '', raw, items, host_set)
    if not _has_jobs(raw) and not ({'jobs', 'nets'} & bad):
        collector.add('the frame has no jobs: give at least one job under "jobs" or in a net', None, raw)
    if collector.problems:
        raise collector.error()
    return {
        'frame': params['frame'],
        'start_at': params.get('start_at'),
        'options': options,
        'description': params.get('description'),
        'items': items,
        'hosts': sorted({item['host'] for item in items if item['kind'] == 'job'}),
    }


def read_frame(path, *, hosts=None):
    """:func:`load_frame_file` then :func:`normalise`, with file and line in every message."""
    return normalise(load_frame_file(path), hosts=hosts, source=os.fspath(path))


# --------------------------------------------------------------------------------------------------------
# Helpers on normalised definitions

def _parse_date(operation_date):
    match = DATE_RE.match(str(operation_date))
    if not match:
        raise ValueError('operation date %r is not YYYY-MM-DD' % (operation_date,))
    year, month, day = (int(part) for part in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError as exc:
        raise ValueError('operation date %r is not a valid date: %s' % (operation_date, exc)) from None


def start_datetime(frame_def, operation_date, tz=None):
    """When the frame may start, as an aware UTC datetime; None when it has no start_at.

    A time of day ('HH:MM:SS') is taken on ``operation_date`` (YYYY-MM-DD) in ``tz`` (a tzinfo or an IANA
    zone name; None: the controller's local zone). A full datetime ignores the operation date.
    """
    value = frame_def.get('start_at')
    if value is None:
        return None
    day = _parse_date(operation_date)
    match = TIME_RE.match(value)
    if match:
        hour, minute, second = (int(part or 0) for part in match.groups())
        naive = datetime.datetime(day.year, day.month, day.day, hour, minute, second)
        if tz is None:
            local = naive.astimezone()   # interpreted in the controller's local zone
        else:
            if isinstance(tz, str):
                import zoneinfo
                tz = zoneinfo.ZoneInfo(tz)
            local = naive.replace(tzinfo=tz)
        return local.astimezone(datetime.timezone.utc)
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError('start_at %r has no UTC offset' % value)
    return parsed.astimezone(datetime.timezone.utc)


def frame_hosts(frame_def):
    """Sorted unique hosts of the frame's jobs."""
    return sorted({item['host'] for item in frame_def['items'] if item['kind'] == 'job'})


def attempt_id(frame, operation_date, uid, path, attempt):
    """The id of one launch attempt: '<frame>.<YYYYMMDD>.<uid>.<path with dots>.<attempt>'.

    At most 128 characters of [A-Za-z0-9._-]; a longer id keeps a prefix and ends with 10 hex digits of the
    SHA-1 of the full id, so it stays unique.
    """
    day = _parse_date(operation_date)
    full = '%s.%s.%s.%s.%s' % (frame, day.strftime('%Y%m%d'), uid, str(path).replace('/', '.'), attempt)
    if not re.match(r'^[A-Za-z0-9._-]+$', full):
        raise ValueError('attempt id %r has characters outside [A-Za-z0-9._-]' % full)
    if len(full) <= ATTEMPT_ID_MAX:
        return full
    digest = hashlib.sha1(full.encode('utf-8')).hexdigest()[:10]
    return '%s.%s' % (full[:ATTEMPT_ID_MAX - 11], digest)
