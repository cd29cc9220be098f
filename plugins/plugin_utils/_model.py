# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Frame definitions: read, validate and normalise.

A frame file is YAML (see docs/frames.md). :func:`load_frame_file` reads it and remembers the line of every
mapping; :func:`normalise` validates it completely before anything is recorded and returns the plain,
JSON-serialisable definition stored with a frame instance. Every problem names the frame, the item path and
the line. Per-mapping checks (known keys, required keys, types, mutually exclusive keys) follow the rules and
messages of Ansible's ``ArgumentSpecValidator``; the graph checks (duplicates, dependencies, cycles, hosts) and
the limits (``docs/validation.md``) are done here. Nothing recurses without a bound: the file is read without
recursion, nets nest at most ``MAX_NESTING`` deep and a frame has at most ``MAX_ITEMS`` jobs and nets.
"""

from __future__ import annotations

import codecs
import collections
import datetime
import difflib
import hashlib
import inspect
import os
import re

import yaml

from ansible_collections.jobnet.scheduler.plugins.plugin_utils import _monitor, _resources, _time, _triggers

# Every pattern is matched with fullmatch() (or ends in \Z): "$" would let a final line break through.
FRAME_NAME_RE = re.compile(r'[a-z0-9][a-z0-9_-]{0,63}\Z')
ITEM_NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z')
ENV_NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,255}\Z')
TIME_RE = re.compile(r'([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?\Z')
DATE_RE = re.compile(r'(\d{4})-(\d{2})-(\d{2})\Z')
ATTEMPT_ID_RE = re.compile(r'[A-Za-z0-9._-]{1,128}\Z')
ATTEMPT_ID_MAX = 128

OPTION_NAMES = ('recovery', 'end_recover', 'auto_rerun', 'recovery_skip', 'catch_up', 'resource_reset',
                'file_wait_reset')
MAX_PROBLEMS_SHOWN = 10

# Limits of a frame (docs/validation.md). Names: 64 characters (in the patterns above).
#: Longest timeout of a job, in seconds (31 days); the job module on the host enforces the same bound.
TIMEOUT_MAX = 31 * 24 * 3600
#: Most bytes of one command: the shell text, or the argv elements and the env variables together.
COMMAND_MAX = 1024 * 1024
#: Most bytes of one argv element or one env variable (NAME=value): Linux's MAX_ARG_STRLEN less its NUL.
ARG_STRLEN_MAX = 32 * 4096 - 1
#: Deepest nesting of nets (a net in a net in ... : the top level's nets are at depth 1).
MAX_NESTING = 64
#: Deepest nesting of mappings and lists in a frame file (a net adds two: its mapping and its list of nets).
MAX_YAML_DEPTH = 1000
#: Most jobs and nets in one frame.
MAX_ITEMS = 250000
#: Largest frame file, in bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024


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
#
# The file is decoded and checked for control characters here, then read event by event (libyaml's parser
# when PyYAML has it, its pure-Python parser otherwise) and built into plain dicts and lists without recursion,
# so that a deeply nested file gives a message instead of a RecursionError (or a crash of the C composer), and
# a large file is read in seconds. Scalars are resolved as by PyYAML's SafeLoader, except that YAML 1.1's
# base-60 numbers and implicit timestamps are not read (an unquoted 23:00 stays the string '23:00').

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

    def key_lines(self, mapping):
        entry = self.maps.get(id(mapping))
        return entry[2] if entry is not None and entry[0] is mapping else {}


class _NoLines:
    source = None
    problems = ()

    def line(self, mapping, key=None):
        return None


# Side table: the last files loaded, keyed by id() of the returned top-level mapping (which it keeps alive,
# so the id cannot be reused while the entry exists).
_LOADED = collections.OrderedDict()
_LOADED_MAX = 32


_INT_TAG = 'tag:yaml.org,2002:int'
_FLOAT_TAG = 'tag:yaml.org,2002:float'
_TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp'
_STR_TAG = 'tag:yaml.org,2002:str'
_NULL_TAG = 'tag:yaml.org,2002:null'
_BOOL_TAG = 'tag:yaml.org,2002:bool'
_MERGE_TAG = 'tag:yaml.org,2002:merge'
_VALUE_TAG = 'tag:yaml.org,2002:value'
_SEQ_TAG = 'tag:yaml.org,2002:seq'
_MAP_TAG = 'tag:yaml.org,2002:map'
_INT_RE = re.compile(r'''(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)\Z''', re.X)
_FLOAT_RE = re.compile(r'''(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))\Z''', re.X)
# What a YAML stream may hold (YAML 1.1, as PyYAML's reader checks): no other control characters.
_NON_PRINTABLE_RE = re.compile('[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]')

_RESOLVERS = {}
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
    _RESOLVERS[_first] = tuple(_kept)
del _first, _resolvers, _kept, _tag, _regexp

_DECIMAL_RE = re.compile(r'[-+]?(?:0|[1-9][0-9]{0,999})\Z')   # read with int() at once
_SAFE = yaml.constructor.SafeConstructor()
_BOOL_VALUES = yaml.constructor.SafeConstructor.bool_values
_MERGE = object()   # the key "<<" of a merge


class _HugeInt:
    """An integer with more digits than Python reads (``sys.get_int_max_str_digits()``): kept as its text, so that
    the check of the key it is given for names the key."""

    def __init__(self, text):
        self.text = text
        self.digits = sum(ch.isdigit() for ch in text)

    def __repr__(self):
        return '<a number of %d digits>' % self.digits

    def __eq__(self, other):
        return isinstance(other, _HugeInt) and other.text == self.text

    def __hash__(self):
        return hash(self.text)


class _YAMLProblem(Exception):
    """A problem found while reading the file: at ``mark`` (a yaml Mark) or on ``line``; ``syntax``: a problem of
    the YAML itself (printed as a YAML syntax error, with the column)."""

    def __init__(self, message, mark=None, *, line=None, syntax=True):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.line = line if mark is None else mark.line + 1
        self.syntax = syntax


def _mark_text(mark):
    return '' if mark is None else ' (column %d)' % (mark.column + 1)


def _scalar(event):
    """The Python value of a scalar event (SafeLoader's rules, with the resolvers above)."""
    value = event.value
    tag = event.tag
    if tag is None or tag == '!':
        tag = _STR_TAG
        if event.implicit[0]:   # a plain scalar (also with the tag "!", as PyYAML's parser says)
            for candidate, regexp in _RESOLVERS.get(value[:1], ()):
                if regexp.match(value):
                    tag = candidate
                    break
    if tag == _STR_TAG or tag == _VALUE_TAG:
        return value
    if tag == _NULL_TAG:
        return None
    if tag == _BOOL_TAG and value.lower() in _BOOL_VALUES:
        return _BOOL_VALUES[value.lower()]
    if tag == _MERGE_TAG:
        return _MERGE
    if tag == _INT_TAG and _DECIMAL_RE.match(value):
        return int(value)
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
    if tag == _INT_TAG:
        try:
            return _SAFE.construct_yaml_int(node)
        except Exception:  # pylint: disable=broad-exception-caught
            # ValueError past Python's int-str limit; IndexError for an empty !!int
            digits = value.replace('_', '').lstrip('+-')
            if digits.isdigit():
                return _HugeInt(value)
            raise _YAMLProblem('%r is not a valid !!int' % value[:80], event.start_mark) from None
    constructor = _SAFE.yaml_constructors.get(tag)
    if constructor is None or inspect.isgeneratorfunction(constructor):
        raise _YAMLProblem('could not determine a constructor for the tag %r of a scalar' % tag, event.start_mark)
    try:
        return constructor(_SAFE, node)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # PyYAML's constructors raise what they meet (an AttributeError for a bad !!timestamp): not shown
        detail = ': %s' % exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else ''
        raise _YAMLProblem('%r is not a valid %s%s' % (value[:80], _short_tag(tag), detail),
                           event.start_mark) from None


def _short_tag(tag):
    return '!!' + tag[len('tag:yaml.org,2002:'):] if tag.startswith('tag:yaml.org,2002:') else tag


def _decode(data):
    """The text of a frame file (UTF-8, or UTF-16 with a byte order mark); _YAMLProblem with the line."""
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = 'utf-16'
    else:
        encoding = 'utf-8-sig'
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b'\n', 0, exc.start) + 1
        column = exc.start - (data.rfind(b'\n', 0, exc.start) + 1) + 1
        raise _YAMLProblem('the file is not valid %s text: %s at byte %d (line %d, column %d); save the frame '
                           'file as UTF-8' % ('UTF-16' if encoding == 'utf-16' else 'UTF-8',
                                              exc.reason, exc.start, line, column),
                           line=line, syntax=False) from None
    bad = _NON_PRINTABLE_RE.search(text)
    if bad is not None:
        line = text.count('\n', 0, bad.start()) + 1
        column = bad.start() - (text.rfind('\n', 0, bad.start()) + 1) + 1
        char = bad.group()
        what = 'a NUL byte' if char == '\0' else 'the control character U+%04X' % ord(char)
        raise _YAMLProblem('the file holds %s at column %d; a frame file is text: tabs, line breaks and '
                           'printable characters only' % (what, column), line=line, syntax=False)
    return text


def _parser(text):
    if getattr(yaml, '__with_libyaml__', False):
        return yaml.CBaseLoader(text)
    return yaml.BaseLoader(text)


def _merge_sources(merges, container, stack):
    """The mappings of the merge keys (``[(value, mark)]``) of ``container``, lowest precedence first: PyYAML's
    order (a later ``<<`` wins over an earlier one; in a list, an earlier mapping wins over a later one)."""
    out = []
    for value, mark in merges:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                raise _YAMLProblem('a merge key (<<) takes a mapping or a list of mappings, got %s'
                                   % _describe(source), mark)
            if source is container or any(source is frame[0] for frame in stack):
                raise _YAMLProblem('a mapping cannot be merged (<<) into itself', mark)
        out.extend(reversed(sources))
    return out


def _build(parser, lines):
    """The single document of ``parser``'s event stream as plain dicts and lists, iteratively."""
    anchors = {}
    anchor_lines = {}
    # frames of the open collections: [container, start_mark, key, key_line, key_lines, merges]
    stack = []
    root = None
    documents = 0

    def add(value, mark):
        nonlocal root
        if not stack:
            root = value
            return
        top = stack[-1]
        container = top[0]
        if isinstance(container, list):
            container.append(value)
            return
        if top[2] is _NOKEY:
            if value is _MERGE:
                top[2] = _MERGE
                return
            try:
                hash(value)
            except TypeError:
                raise _YAMLProblem('while constructing a mapping: found unhashable key', mark) from None
            top[2] = value
            top[3] = mark.line + 1
            return
        key, key_line = top[2], top[3]
        top[2] = _NOKEY
        if key is _MERGE:
            top[5].append((value, mark))   # its value may still be filling: merged at the end of the mapping
            return
        key_lines = top[4]
        if key in key_lines:
            lines.problems.append((key_line, 'duplicate key %r (lines %d and %d); the last one would win'
                                   % (key, key_lines[key], key_line)))
        key_lines[key] = key_line
        container[key] = value

    def anchor(event, value):
        name = event.anchor
        if name in anchors:
            raise _YAMLProblem('found duplicate anchor %r (first on line %d)' % (name, anchor_lines[name]),
                               event.start_mark)
        anchors[name] = value
        anchor_lines[name] = event.start_mark.line + 1

    while True:
        event = parser.get_event()
        if event is None:
            break
        kind = type(event)
        if kind is yaml.ScalarEvent:
            value = _scalar(event)
            if event.anchor is not None:
                anchor(event, value)
            add(value, event.start_mark)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            is_map = kind is yaml.MappingStartEvent
            if event.tag not in (None, '!', _MAP_TAG if is_map else _SEQ_TAG):
                raise _YAMLProblem('the tag %r is not supported in a frame file: use plain mappings, lists and '
                                   'scalars' % event.tag, event.start_mark)
            if len(stack) >= MAX_YAML_DEPTH:
                raise _YAMLProblem('mappings and lists are nested more than %d deep here; a frame file may nest '
                                   'them at most %d deep (nets at most %d)'
                                   % (MAX_YAML_DEPTH, MAX_YAML_DEPTH, MAX_NESTING), event.start_mark, syntax=False)
            value = {} if is_map else []
            if event.anchor is not None:
                anchor(event, value)
            add(value, event.start_mark)
            stack.append([value, event.start_mark, _NOKEY, None, {}, []])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            container, start_mark, _key, _key_line, key_lines, merges = stack.pop()
            if merges:
                own = dict(container)
                container.clear()
                merged_lines = {}
                for source in _merge_sources(merges, container, stack):
                    container.update(source)
                    merged_lines.update(lines.key_lines(source))
                container.update(own)
                for key, line in merged_lines.items():
                    key_lines.setdefault(key, line)
            if kind is yaml.MappingEndEvent:
                lines.record(container, start_mark.line + 1, key_lines)
        elif kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                raise _YAMLProblem('found undefined alias %r' % event.anchor, event.start_mark)
            add(anchors[event.anchor], event.start_mark)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _YAMLProblem('expected a single document in the stream, but found another document',
                                   event.start_mark)
    return root


_NOKEY = object()


def load_frame_file(path):
    """Read a frame file; return its top-level mapping (plain dicts and lists).

    Line numbers are kept in a side table that :func:`normalise` uses. Raises FrameError for a missing,
    unreadable or too large file, a file that is not UTF-8 text, a YAML syntax error, nesting deeper than
    ``MAX_YAML_DEPTH``, or a top level that is not a mapping.
    """
    source = os.fspath(path)
    try:
        with open(source, 'rb') as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise FrameError('cannot read the frame file: %s' % (exc.strerror or exc), source=source) from None
    if len(data) > MAX_FILE_BYTES:
        raise FrameError('the frame file is larger than %d MiB; a frame file may have at most %d bytes'
                         % (MAX_FILE_BYTES // (1024 * 1024), MAX_FILE_BYTES), source=source)
    lines = _Lines(source)
    try:
        text = _decode(data)
        parser = _parser(text)
        try:
            data = _build(parser, lines)
        finally:
            parser.dispose()
    except _YAMLProblem as exc:
        message = 'YAML syntax error: %s%s' % (exc.message, _mark_text(exc.mark)) if exc.syntax else exc.message
        raise FrameError(message, source=source, line=exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        line = mark.line + 1 if mark is not None else None
        detail = ': '.join(str(part) for part in (getattr(exc, 'context', None), getattr(exc, 'problem', None))
                           if part) or str(exc)
        raise FrameError('YAML syntax error: %s%s' % (detail, _mark_text(mark)), source=source, line=line) from None
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
    if isinstance(value, _HugeInt):
        return 'a number of %d digits' % value.digits
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
    if isinstance(value, (dict, list, tuple, _HugeInt)):
        return _type_name(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return 'a number of %d digits' % len(str(abs(value)))
    if isinstance(value, str) and len(value) > 80:
        return 'a string of %d characters %r...' % (len(value), value[:40])
    return '%s %r' % (_type_name(value), value)


def _valid_text(value):
    """``value`` (a str) when it is text that can be stored: ValueError for a lone surrogate."""
    if not value.isascii():
        try:
            value.encode('utf-8')
        except UnicodeEncodeError as exc:
            raise ValueError('%r holds the lone surrogate U+%04X at character %d, which is not a character; write '
                             'the character itself (or one \\U escape)'
                             % (value[:40], ord(value[exc.start]), exc.start)) from None
    return value


def _scalar_text(value, what):
    if isinstance(value, str):
        return _valid_text(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) and value.bit_length() > 64:
            raise TypeError('expected %s, got %s' % (what, _describe(value)))
        return str(value)
    raise TypeError('expected %s, got %s' % (what, _describe(value)))


_NUL_RULE = 'a NUL byte (\\0) cannot be passed to a program'


def _no_nul(value, what):
    if '\0' in value:
        raise ValueError('%s contains a NUL byte at character %d; %s' % (what, value.index('\0'), _NUL_RULE))
    return value


def _utf8_len(value):
    return len(value) if value.isascii() else len(value.encode('utf-8'))


def frame_name(value):
    value = _scalar_text(value, 'a frame name')
    if not FRAME_NAME_RE.fullmatch(value):
        raise ValueError('%r is not a valid frame name: use lower-case letters, digits, "_" and "-", starting '
                         'with a letter or digit, at most 64 characters' % value)
    return value


def item_name(value):
    value = _scalar_text(value, 'a name')
    if not ITEM_NAME_RE.fullmatch(value):
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
    total = 0
    for index, element in enumerate(value):
        if isinstance(element, bool) or not isinstance(element, (str, int, float)) or \
                (isinstance(element, int) and element.bit_length() > 64):
            raise TypeError('element %d: expected a string, got %s' % (index, _describe(element)))
        element = _no_nul(_scalar_text(element, 'a string'), 'element %d' % index)
        size = _utf8_len(element)
        if size > ARG_STRLEN_MAX:
            raise ValueError('element %d is %d bytes; one argument can be at most %d bytes (Linux\'s '
                             'MAX_ARG_STRLEN): pass large data in a file, or use "shell" (up to %d bytes)'
                             % (index, size, ARG_STRLEN_MAX, COMMAND_MAX))
        total += size + 1
        result.append(element)
    if total > COMMAND_MAX:
        raise ValueError('the arguments are %d bytes together; a command can be at most %d bytes (1 MiB)'
                         % (total, COMMAND_MAX))
    if not result[0]:
        raise ValueError('element 0 (the program) must not be empty')
    if result[0].startswith('-'):
        raise ValueError('element 0 (the program) %r begins with "-"; give it as a path (./%s)'
                         % (result[0], result[0]))
    return result


def shell_line(value):
    value = _scalar_text(value, 'a command line')
    if not value.strip():
        raise ValueError('must not be empty')
    _no_nul(value, 'the command line')
    size = _utf8_len(value)
    if size > COMMAND_MAX:
        raise ValueError('the command line is %d bytes; a command can be at most %d bytes (1 MiB): run a script '
                         'file instead' % (size, COMMAND_MAX))
    return value


def directory(value):
    value = _scalar_text(value, 'a folder path')
    if not value.strip():
        raise ValueError('must not be empty; leave chdir out to run in the home folder')
    return _no_nul(value, 'the path')


def environment(value):
    if not isinstance(value, dict):
        raise TypeError('expected a mapping of variable names to strings, got %s' % _describe(value))
    result = {}
    total = 0
    for key, item in value.items():
        if not isinstance(key, str) or not ENV_NAME_RE.fullmatch(key):
            raise ValueError('%r is not a valid environment variable name' % (key,))
        if isinstance(item, bool):
            raise TypeError('variable %s: got the boolean %r; quote it to pass a string' % (key, item))
        if not isinstance(item, (str, int, float)) or (isinstance(item, int) and item.bit_length() > 64):
            raise TypeError('variable %s: expected a string, got %s' % (key, _describe(item)))
        item = _no_nul(_scalar_text(item, 'a string'), 'variable %s: the value' % key)
        size = len(key) + 1 + _utf8_len(item)
        if size > ARG_STRLEN_MAX:
            raise ValueError('variable %s is %d bytes (NAME=value); one variable can be at most %d bytes (Linux\'s '
                             'MAX_ARG_STRLEN): pass large data in a file' % (key, size, ARG_STRLEN_MAX))
        total += size + 1
        result[key] = item
    if total > COMMAND_MAX:
        raise ValueError('the variables are %d bytes together; at most %d bytes (1 MiB)' % (total, COMMAND_MAX))
    return result


#: an Ansible variable name (what a job's secret_env names as the source of a value)
VAR_NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,255}\Z')


def secret_environment(value):
    """secret_env: environment variable name -> the name of the Ansible variable that holds its value.

    Only the names are part of the frame (and of the state store); the values are looked up in the job's host
    variables when the job is launched, and never recorded or printed.
    """
    if not isinstance(value, dict):
        raise TypeError('expected a mapping of environment variable names to Ansible variable names (the value is '
                        'looked up at launch, never stored), got %s' % _describe(value))
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not ENV_NAME_RE.fullmatch(key):
            raise ValueError('%r is not a valid environment variable name' % (key,))
        if not isinstance(item, str) or not VAR_NAME_RE.fullmatch(item):
            raise ValueError('variable %s: %s is not the name of an Ansible variable (letters, digits and _, not '
                             'starting with a digit); give the name of the variable that holds the secret, never '
                             'the secret itself' % (key, _describe(item) if not isinstance(item, str) else
                                                    'the value'))
        result[key] = item
    return result


def resource_needs(value):
    """resources: {name: units} or a list of names (1 unit each); see ``_resources``."""
    try:
        return _resources.normalise_needs(value)
    except _resources.ResourceError as exc:
        raise ValueError(str(exc))


def job_priority(value):
    return _resources.check_priority(value)


def positive_int(value):
    if isinstance(value, _HugeInt) and not value.text.startswith('-'):
        raise ValueError('expected a whole number of seconds from 1 to %d (31 days), got %s'
                         % (TIMEOUT_MAX, _describe(value)))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('expected a whole number of seconds greater than 0, got %s' % _describe(value))
    if value <= 0:
        raise ValueError('expected a whole number of seconds greater than 0, got %s'
                         % (value if value.bit_length() <= 64 else _describe(value)))
    if value > TIMEOUT_MAX:
        raise ValueError('expected a whole number of seconds from 1 to %d (31 days), got %s'
                         % (TIMEOUT_MAX, value if value.bit_length() <= 64 else _describe(value)))
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


def event_name(value):
    try:
        return _triggers.check_event_name(_scalar_text(value, 'an event name'))
    except _triggers.TriggerError as exc:
        raise ValueError(str(exc))


def time_of_day(value):
    """A time on the operation day: 'HH:MM' or 'HH:MM:SS', returned as 'HH:MM:SS'."""
    if isinstance(value, datetime.time):
        return value.strftime('%H:%M:%S')
    if isinstance(value, int) and not isinstance(value, bool):
        raise TypeError('expected "HH:MM" or "HH:MM:SS", got the number %d (quote times in YAML)' % value)
    if not isinstance(value, str):
        raise TypeError('expected "HH:MM" or "HH:MM:SS", got %s' % _describe(value))
    match = TIME_RE.fullmatch(value.strip())
    if not match:
        raise ValueError('%r is not a time of day "HH:MM" or "HH:MM:SS"' % value)
    hour, minute, second = match.groups()
    return '%02d:%02d:%02d' % (int(hour), int(minute), int(second or 0))


def watched_path(value):
    try:
        return _triggers.check_path(_scalar_text(value, 'a path'))
    except _triggers.TriggerError as exc:
        raise ValueError(str(exc))


def link_state(value):
    value = _scalar_text(value, 'a frame state')
    if value not in _triggers.FRAME_LINK_STATES:
        raise ValueError('a frame-link waits for one of %s, not %r' % (', '.join(_triggers.FRAME_LINK_STATES), value))
    return value


def job_on_end(value):
    """on_end of a job: {event: NAME} (the event set ON when the job ends normally) and / or end commands
    {normal_end: ACTION, abnormal_end: ACTION}; checked in full by _check_monitoring."""
    if not isinstance(value, dict):
        raise TypeError('expected a mapping such as {event: NAME} or {normal_end: ACTION}, got %s' % _describe(value))
    unknown = sorted(str(k) for k in value if k not in ('event',) + _monitor.END_STATES)
    if unknown:
        raise ValueError('unknown key %s (known: event, normal_end, abnormal_end)'
                         % ', '.join(repr(k) for k in unknown))
    if all(value.get(k) is None for k in ('event',) + _monitor.END_STATES):
        raise ValueError('give the event to set ON when the job ends normally ({event: NAME}) or an end command '
                         '({normal_end: ACTION} / {abnormal_end: ACTION})')
    out = {}
    if value.get('event') is not None:
        out['event'] = event_name(value['event'])
    for k in _monitor.END_STATES:
        if value.get(k) is not None:
            out[k] = mapping(value[k])
    return out


def end_commands(value):
    """on_end of a frame or net: {normal_end: ACTION, abnormal_end: ACTION}."""
    if not isinstance(value, dict):
        raise TypeError('expected a mapping {normal_end: ACTION, abnormal_end: ACTION}, got %s' % _describe(value))
    unknown = sorted(str(k) for k in value if k not in _monitor.END_STATES)
    if unknown:
        raise ValueError('unknown key %s (known: normal_end, abnormal_end)' % ', '.join(repr(k) for k in unknown))
    return {k: mapping(value[k]) for k in _monitor.END_STATES if value.get(k) is not None}


def deadline(value):
    try:
        return _monitor.deadline_text(value)
    except _monitor.MonitorError as exc:
        raise ValueError(str(exc))


def duration(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('expected a whole number of seconds greater than 0, got %s' % _describe(value))
    if value <= 0 or value > _monitor.DURATION_MAX:
        raise ValueError('expected a whole number of seconds from 1 to %d (31 days), got %s'
                         % (_monitor.DURATION_MAX, value if value.bit_length() <= 64 else _describe(value)))
    return value


def notify(value):
    if not isinstance(value, dict):
        raise TypeError('expected a mapping {url: URL}, got %s' % _describe(value))
    unknown = sorted(str(k) for k in value if k != 'url')
    if unknown:
        raise ValueError('unknown key %s (known: url)' % ', '.join(repr(k) for k in unknown))
    try:
        return {'url': _monitor.check_url(value.get('url'))}
    except _monitor.MonitorError as exc:
        raise ValueError(str(exc))


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
    match = TIME_RE.fullmatch(value.strip())
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

#: delay monitoring, the same on a frame, a net and a job (docs/monitoring.md)
MONITOR_SPEC = {
    'start_by': {'type': deadline},
    'end_by': {'type': deadline},
    'max_duration': {'type': duration},
    'on_delay': {'type': mapping},
    'notify': {'type': notify},
}

FRAME_SPEC = {
    'frame': {'type': frame_name, 'required': True},
    'description': {'type': text},
    'start_at': {'type': start_at},
    'options': {'type': mapping},
    **MONITOR_SPEC,
    'on_end': {'type': end_commands},
    'triggers': {'type': item_list},
    'wait_for': {'type': name_list},
    'jobs': {'type': item_list},
    'nets': {'type': item_list},
}

#: an action (on_delay, an end command): run like a job, on its host
ACTION_SPEC = {
    'host': {'type': host_name, 'required': True},
    'command': {'type': argv},
    'shell': {'type': shell_line},
    'chdir': {'type': directory},
    'env': {'type': environment},
    'timeout': {'type': positive_int},
}

#: one trigger (docs/triggers.md): exactly one of the keys of _triggers.KINDS says its kind
TRIGGER_SPEC = {
    'name': {'type': item_name, 'required': True},
    'description': {'type': text},
    'event': {'type': event_name},
    'file': {'type': watched_path},
    'host': {'type': host_name},
    'frame': {'type': frame_name},
    'state': {'type': link_state},
    'on_at': {'type': time_of_day},
}

OPTIONS_SPEC = {name: {'type': flag} for name in OPTION_NAMES}

NET_SPEC = {
    'name': {'type': item_name, 'required': True},
    'description': {'type': text},
    'after': {'type': name_list},
    'wait_for': {'type': name_list},
    **MONITOR_SPEC,
    'on_end': {'type': end_commands},
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
    'chdir': {'type': directory},
    'env': {'type': environment},
    'secret_env': {'type': secret_environment},
    'timeout': {'type': positive_int},
    'resources': {'type': resource_needs},
    'priority': {'type': job_priority},
    'on_end': {'type': job_on_end},
    **MONITOR_SPEC,
    'after': {'type': name_list},
    'wait_for': {'type': name_list},
    'skip': {'type': flag, 'default': False},
    'pause': {'type': flag, 'default': False},
}

_SPECS = {'frame': FRAME_SPEC, 'options': OPTIONS_SPEC, 'net': NET_SPEC, 'job': JOB_SPEC, 'trigger': TRIGGER_SPEC,
          'action': ACTION_SPEC}
# the spec's items, its required keys and its defaults, computed once
_PLANS = {kind: (tuple(spec.items()), tuple(sorted(k for k, v in spec.items() if v.get('required'))),
                 {k: v['default'] for k, v in spec.items() if v.get('default') is not None})
          for kind, spec in _SPECS.items()}
# a job gives exactly one of these
_EXCLUSIVE = {'job': ('command', 'shell'), 'action': ('command', 'shell')}


# --------------------------------------------------------------------------------------------------------
# Validation and normalisation

class _Collector:
    def __init__(self, lines, source):
        self.lines = lines
        self.source = source
        self.frame = None
        self.problems = []   # (line, item, message)
        self.count = 0       # jobs and nets seen
        self.too_many = False
        self.triggers = set()   # the names of the frame's triggers (what wait_for may name)
        self.start_at = None    # the frame's start_at (deadlines of the day are checked against it)

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
    """Validate one mapping with its argument spec; return (params, bad_keys).

    The rules, their order and the messages are those of Ansible's ``ArgumentSpecValidator`` (known keys,
    mutually exclusive keys, required keys, then each key's type check in the order of the spec, then the keys
    of which one is required), without its per-call cost (a deep copy of the mapping and a walk of the whole
    spec for aliases, fallbacks, no_log and deprecations): a frame of 100,000 jobs is checked in seconds.
    """
    spec = _SPECS[kind]
    checks, required, defaults = _PLANS[kind]
    params = {}
    bad = set()
    for key, value in raw.items():
        if not isinstance(key, str):
            collector.add('key %s%r is not a string' % (prefix, key), item, raw)
            continue
        if value is None and not spec.get(key, {}).get('required'):
            continue   # an empty value is the same as leaving the key out
        params[key] = value
    guesses = set()
    unknown = [key for key in params if key not in spec]
    for key in sorted(unknown, key=str):
        bad.add(key)
        guess = _suggest(key, spec)
        guesses.add(guess)
        hint = 'did you mean %r?' % guess if guess else 'known keys: %s' % ', '.join(sorted(spec))
        collector.add('unknown key %r (%s)' % (prefix + key, hint), item, raw, key)
    exclusive = _EXCLUSIVE.get(kind)
    where = prefix.rstrip('.') + ': ' if prefix else ''
    if exclusive and all(key in params for key in exclusive):
        bad.update(exclusive)
        collector.add('%sgive either "command" (an argv list) or "shell" (a command line), not both' % where,
                      item, raw, 'shell')
    for key in required:
        if key not in params:
            bad.add(key)
            collector.add('missing required key %r' % (prefix + key), item, raw)
    validated = dict(params)
    for key, rules in checks:
        if key not in params:
            validated[key] = defaults.get(key)
            continue
        try:
            validated[key] = rules['type'](params[key])
        except (TypeError, ValueError) as exc:
            bad.add(key)
            collector.add('%s%s: %s' % (prefix, key, exc), item, raw, key)
    if exclusive and not any(key in params for key in exclusive):
        bad.update(exclusive)
        if not guesses & set(exclusive):   # else already reported as a misspelt key
            collector.add('%sgive "command" (an argv list) or "shell" (a command line)' % where, item, raw)
    for key in spec:
        if key in bad:
            validated.pop(key, None)
    return validated, bad


def _join(parent, name):
    return '%s/%s' % (parent, name) if parent else name


def _check_level(collector, parent_path, raw_parent, items_out, hosts, depth=0):
    """Validate the jobs and nets of one level (the frame or a net); append their items; return children.

    ``depth``: how many nets enclose this level (0 at the top). Nets nest at most MAX_NESTING deep, and the
    whole frame holds at most MAX_ITEMS jobs and nets, so that this recursion and the work stay bounded (also
    for a YAML alias that repeats a list of nets inside itself or many times over).
    """
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
            collector.count += 1
            if collector.count > MAX_ITEMS:
                if not collector.too_many:
                    collector.too_many = True
                    collector.add('the frame has more than %d jobs and nets; a frame may have at most %d (split it '
                                  'into frames)' % (MAX_ITEMS, MAX_ITEMS), position, raw)
                return []
            raw_name = raw.get('name')
            label = position
            if isinstance(raw_name, (str, int)) and not isinstance(raw_name, bool) and \
                    (not isinstance(raw_name, int) or raw_name.bit_length() <= 64) and \
                    ITEM_NAME_RE.fullmatch(str(raw_name)):
                label = _join(parent_path, str(raw_name))
            params, bad = _check_mapping(kind, raw, collector, label)
            name = params.get('name') if 'name' not in bad else None
            if kind == 'job' and params.get('command') and params.get('env') and \
                    not {'command', 'env'} & bad:
                size = sum(_utf8_len(a) + 1 for a in params['command']) + \
                    sum(len(k) + 2 + _utf8_len(v) for k, v in params['env'].items())
                if size > COMMAND_MAX:
                    bad.add('env')
                    collector.add('command and env are %d bytes together; a program can get at most %d bytes '
                                  '(1 MiB) of arguments and variables: pass large data in a file'
                                  % (size, COMMAND_MAX), label, raw, 'env')
            if kind == 'job' and params.get('env') and params.get('secret_env') and \
                    not {'env', 'secret_env'} & bad:
                both = sorted(set(params['env']) & set(params['secret_env']))
                if both:
                    bad.add('secret_env')
                    collector.add('%s given in both env and secret_env; give each variable once'
                                  % ', '.join(both), label, raw, 'secret_env')
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
    monitoring = {}
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
        if 'wait_for' not in bad:
            _check_wait_for(collector, params.get('wait_for'), label, raw)
        monitoring[id(raw)] = _check_monitoring(collector, params, bad, label, raw, hosts, collector.start_at)
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
            if params.get('secret_env'):
                common['secret_env'] = dict(params['secret_env'])
            if params.get('resources'):
                common['resources'] = dict(params['resources'])
            if params.get('priority'):
                common['priority'] = params['priority']
            if params.get('wait_for') and 'wait_for' not in bad:
                common['wait_for'] = list(params['wait_for'])
            common.update(monitoring.get(id(raw)) or {})
            items_out.append(_ordered_job(common))
        else:
            if params.get('wait_for') and 'wait_for' not in bad:
                common['wait_for'] = list(params['wait_for'])
            common.update(monitoring.get(id(raw)) or {})
            net = dict(common, children=[])
            items_out.append(_ordered_net(net))
            net_item = items_out[-1]
            if depth + 1 > MAX_NESTING:
                collector.add('nets are nested more than %d deep here; nets may nest at most %d deep'
                              % (MAX_NESTING, MAX_NESTING), path, raw)
                continue
            net_item['children'] = _check_level(collector, path, raw, items_out, hosts, depth + 1)
            if not raw.get('jobs') and not raw.get('nets'):
                collector.add('a net needs at least one job or net', path, raw)
    return children


def _has_jobs(raw):
    """Whether any level of ``raw`` gives jobs (a list, or a wrong value reported as such); each mapping is
    looked at once, without recursion."""
    seen = set()
    todo = [raw]
    while todo:
        node = todo.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        jobs, nets = node.get('jobs'), node.get('nets')
        if jobs:
            return True
        if isinstance(nets, (list, tuple)):
            todo.extend(nets)
    return False


_JOB_KEYS = ('path', 'name', 'kind', 'parent', 'host', 'command', 'shell', 'chdir', 'env', 'timeout', 'after',
             'skip', 'pause', 'description')
_NET_KEYS = ('path', 'name', 'kind', 'parent', 'after', 'skip', 'pause', 'children', 'description')


def _ordered_job(item):
    out = {key: item[key] for key in _JOB_KEYS}
    for key in ('secret_env', 'resources', 'priority', 'on_end', 'wait_for') + _MONITOR_KEYS:
        if item.get(key):   # only when given: definitions without them read as before
            out[key] = item[key]
    return out


#: the delay monitoring keys of a normalised frame, net or job (only when given)
_MONITOR_KEYS = ('start_by', 'end_by', 'max_duration', 'on_delay', 'notify')


def _ordered_net(item):
    out = {key: item[key] for key in _NET_KEYS}
    for key in ('wait_for', 'on_end') + _MONITOR_KEYS:
        if item.get(key):
            out[key] = item[key]
    return out


def _check_action(collector, raw_action, label, where, hosts):
    """One action (on_delay, an end command); returns its normalised form, or None when it has problems."""
    if not isinstance(raw_action, dict):
        collector.add('%s: expected a mapping {host, command or shell, ...}, got %s' % (where, _describe(raw_action)),
                      label)
        return None
    before = len(collector.problems)
    params, bad = _check_mapping('action', raw_action, collector, label, prefix=where + '.')
    host = params.get('host')
    if 'host' not in bad and host is not None and hosts is not None and host not in hosts:
        collector.add('%s: unknown host %r (not in the inventory)' % (where, host), label, raw_action, 'host')
    if len(collector.problems) > before:
        return None
    out = {'host': host}
    for key in ('command', 'shell', 'chdir', 'timeout'):
        if params.get(key) is not None:
            out[key] = params[key]
    if params.get('env'):
        out['env'] = dict(params['env'])
    return out


def _check_monitoring(collector, params, bad, label, raw, hosts, start_at=None):
    """Delay monitoring, actions, end commands and notify of a frame, net or job (docs/monitoring.md); returns the
    normalised fields that were given."""
    out = {}
    for key in ('start_by', 'end_by', 'max_duration', 'notify'):
        if params.get(key) is not None and key not in bad:
            out[key] = params[key]
    start, end = out.get('start_by'), out.get('end_by')
    if label is None and start and _monitor.is_relative(start):
        collector.add('start_by %s of the frame: a frame cannot start late after its own start; give a time of the '
                      'day (HH:MM)' % start, label, raw, 'start_by')
    if start and end and _monitor.is_relative(start) == _monitor.is_relative(end) and \
            _monitor.seconds_of(end) < _monitor.seconds_of(start):
        collector.add('end_by %s is before start_by %s' % (end, start), label, raw, 'end_by')
    if start_at and TIME_RE.fullmatch(start_at):
        for key in ('start_by', 'end_by'):
            value = out.get(key)
            if value and not _monitor.is_relative(value) and value < start_at:
                collector.add('%s %s is before the frame\'s start_at %s (give +HH:MM for a time after the start)'
                              % (key, value, start_at), label, raw, key)
    if params.get('on_delay') is not None and 'on_delay' not in bad:
        if not _monitor.monitors(params):
            collector.add('on_delay runs when start_by, end_by or max_duration is passed: give one of them',
                          label, raw, 'on_delay')
        action = _check_action(collector, params['on_delay'], label, 'on_delay', hosts)
        if action:
            out['on_delay'] = action
    on_end = params.get('on_end') if 'on_end' not in bad else None
    if on_end:
        ends = {}
        if on_end.get('event'):
            ends['event'] = on_end['event']
        for state in _monitor.END_STATES:
            if on_end.get(state) is None:
                continue
            if params.get('skip'):
                collector.add('on_end.%s: an end command on an item marked skip never runs (it ends skip_end)'
                              % state, label, raw, 'on_end')
                continue
            action = _check_action(collector, on_end[state], label, 'on_end.%s' % state, hosts)
            if action:
                ends[state] = action
        if ends:
            out['on_end'] = ends
    return out


def _action_hosts(defn):
    """The hosts of every action of a normalised definition."""
    hosts = set()
    for d in [defn] + list(defn.get('items') or []):
        for action in [d.get('on_delay')] + [(d.get('on_end') or {}).get(s) for s in _monitor.END_STATES]:
            if isinstance(action, dict) and action.get('host'):
                hosts.add(action['host'])
    return hosts


def _check_wait_for(collector, names, label, raw):
    """Each name of a ``wait_for`` must be a trigger of the frame."""
    for name in names or []:
        if name in collector.triggers:
            continue
        known = sorted(collector.triggers)
        guess = _suggest(name, known)
        hint = 'did you mean %r? ' % guess if guess else ''
        collector.add('unknown trigger %r in wait_for (%striggers of the frame: %s)' % (name, hint, _few(known)),
                      label, raw, 'wait_for')


def _check_triggers(collector, listing, frame, hosts):
    """Validate the frame's ``triggers``; returns their normalised definitions (and fills collector.triggers)."""
    out = []
    if not isinstance(listing, (list, tuple)):
        return out
    if len(listing) > _triggers.MAX_TRIGGERS:
        collector.add('the frame has %d triggers; a frame may have at most %d' % (len(listing), _triggers.MAX_TRIGGERS))
        return out
    seen = {}
    for index, raw in enumerate(listing):
        position = 'triggers[%d]' % index
        if not isinstance(raw, dict):
            collector.add('each entry of "triggers" must be a mapping, got %s' % _describe(raw), position)
            continue
        name = raw.get('name')
        label = 'trigger %s' % name if isinstance(name, str) and ITEM_NAME_RE.fullmatch(name) else position
        params, bad = _check_mapping('trigger', raw, collector, label)
        kinds = [key for key in _triggers.KINDS if params.get(key) is not None or key in bad]
        if len(kinds) != 1:
            collector.add('a trigger gives exactly one of %s (%s)' % (
                ', '.join('"%s"' % k for k in _triggers.KINDS),
                'got %s' % ', '.join(kinds) if kinds else 'none given'), label, raw)
            continue
        kind = kinds[0]
        extra = sorted(key for key in params if params[key] is not None and key in TRIGGER_SPEC and key not in
                       ('name', 'description', 'on_at', kind) + _triggers.KINDS[kind].extra)
        for key in extra:
            collector.add('%r does not apply to %s %s trigger' % (key, 'an' if kind[0] in 'aeiou' else 'a', kind),
                          label, raw, key)
        if bad or extra:
            if 'name' not in bad and isinstance(params.get('name'), str):
                collector.triggers.add(params['name'])   # named: do not report its waiters as well
            continue
        problems = _triggers.KINDS[kind].check(params, frame=frame, hosts=hosts)
        for key, message in problems:
            collector.add(message, label, raw, key)
        name = params['name']
        if name in seen:
            collector.add('duplicate trigger name %r' % name, label, raw, 'name')
            continue
        seen[name] = raw
        collector.triggers.add(name)
        if problems:
            continue
        tdef = {'name': name, 'kind': kind}
        tdef.update(_triggers.KINDS[kind].normalise(params))
        tdef['on_at'] = params.get('on_at')
        if params.get('description'):
            tdef['description'] = params['description']
        out.append(tdef)
    return out


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
    collector.start_at = params.get('start_at') if 'start_at' not in bad else None
    triggers = [] if 'triggers' in bad else _check_triggers(
        collector, params.get('triggers'), params.get('frame'), host_set)
    frame_monitoring = _check_monitoring(collector, params, bad, None, raw, host_set, collector.start_at)
    if 'wait_for' not in bad:
        _check_wait_for(collector, params.get('wait_for'), None, raw)
    items = []
    _check_level(collector, '', raw, items, host_set)
    if not _has_jobs(raw) and not ({'jobs', 'nets'} & bad):
        collector.add('the frame has no jobs: give at least one job under "jobs" or in a net', None, raw)
    if collector.problems:
        raise collector.error()
    out = {
        'frame': params['frame'],
        'start_at': params.get('start_at'),
        'options': options,
        'description': params.get('description'),
        'items': items,
        'hosts': sorted({item['host'] for item in items if item['kind'] == 'job'}),
    }
    if triggers:   # only when given: definitions without them read as before
        out['triggers'] = triggers
        out['hosts'] = sorted(set(out['hosts']) | set(_triggers.hosts_of(out)))
    if params.get('wait_for'):
        out['wait_for'] = list(params['wait_for'])
    out.update(frame_monitoring)
    actions = _action_hosts(out)
    if actions:
        out['hosts'] = sorted(set(out['hosts']) | actions)
    return out


def read_frame(path, *, hosts=None):
    """:func:`load_frame_file` then :func:`normalise`, with file and line in every message."""
    return normalise(load_frame_file(path), hosts=hosts, source=os.fspath(path))


# --------------------------------------------------------------------------------------------------------
# Helpers on normalised definitions

def _parse_date(operation_date):
    text = str(operation_date)
    if not _time.is_date_form(text):
        raise ValueError('operation date %r is not YYYY-MM-DD' % (operation_date,))
    try:
        return _time.parse_date(text)
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
    match = TIME_RE.fullmatch(value)
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
    try:
        return _time.parse_time(value)
    except ValueError as exc:
        raise ValueError('start_at %s' % exc) from None


def frame_hosts(frame_def):
    """Sorted unique hosts of the frame's jobs, of its file triggers and of its actions."""
    return sorted({item['host'] for item in frame_def['items'] if item['kind'] == 'job'}
                  | set(_triggers.hosts_of(frame_def)) | _action_hosts(frame_def))


def attempt_id(frame, operation_date, uid, path, attempt):
    """The id of one launch attempt: '<frame>.<YYYYMMDD>.<uid>.<path with dots>.<attempt>'.

    At most 128 characters of [A-Za-z0-9._-]; a longer id keeps a prefix and ends with 10 hex digits of the
    SHA-1 of the full id, so it stays unique.
    """
    day = _parse_date(operation_date)
    full = '%s.%s.%s.%s.%s' % (frame, day.strftime('%Y%m%d'), uid, str(path).replace('/', '.'), attempt)
    if not re.fullmatch(r'[A-Za-z0-9._-]+', full):
        raise ValueError('attempt id %r has characters outside [A-Za-z0-9._-]' % full)
    if len(full) <= ATTEMPT_ID_MAX:
        return full
    digest = hashlib.sha1(full.encode('utf-8')).hexdigest()[:10]
    return '%s.%s' % (full[:ATTEMPT_ID_MAX - 11], digest)
