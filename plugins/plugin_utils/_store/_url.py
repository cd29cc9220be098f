# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Store URLs: the accepted forms, their checks, and the password mask used in every message."""

from __future__ import annotations

import os
import urllib.parse

from ansible_collections.jobnet.scheduler.plugins.plugin_utils._store._common import (
    DEFAULT_REDIS_PREFIX,
    DEFAULT_SQLITE_PATH,
    StoreError,
)

ACCEPTED_FORMS = ('sqlite:///ABSOLUTE/PATH.db, redis://[:PASSWORD@]HOST:PORT/DB[?prefix=PREFIX] '
                  'or rediss://... (TLS)')


def default_sqlite_path() -> str:
    return os.path.expanduser(DEFAULT_SQLITE_PATH)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    try:
        p = urllib.parse.urlsplit(url)
    except ValueError:
        return '<unparsable store URL>'
    if p.password is None:
        return url
    user = p.username or ''
    host = p.hostname or ''
    if p.port:
        host += ':%d' % p.port
    return urllib.parse.urlunsplit((p.scheme, '%s:***@%s' % (user, host), p.path, p.query, p.fragment))


def parse_store_url(url: str | None) -> tuple[str, dict]:
    """Check a store URL: ``('sqlite', {'path': ...})`` or ``('redis', {'url': ..., 'prefix': ...})``."""
    if url is None or (isinstance(url, str) and not url.strip()):
        return 'sqlite', {'path': default_sqlite_path()}
    if not isinstance(url, str):
        raise StoreError('invalid state store %r: expected a string, one of %s' % (url, ACCEPTED_FORMS))
    url = str(url).strip()
    scheme = url.split(':', 1)[0].lower() if ':' in url else ''
    if scheme == 'sqlite':
        if not url.lower().startswith('sqlite://'):
            raise StoreError('invalid state store %r: expected %s' % (url, ACCEPTED_FORMS))
        path = urllib.parse.unquote(url[len('sqlite://'):])
        path = path.split('?', 1)[0]
        if not path.startswith('/'):
            raise StoreError('invalid state store %r: the SQLite path must be absolute (three slashes: '
                             'sqlite:///var/lib/jobnet/state.db); accepted forms: %s' % (url, ACCEPTED_FORMS))
        if path.endswith('/'):
            raise StoreError('invalid state store %r: the SQLite path names a folder, not a file; accepted forms: %s'
                             % (url, ACCEPTED_FORMS))
        return 'sqlite', {'path': os.path.normpath(path)}
    if scheme in ('redis', 'rediss'):
        try:
            p = urllib.parse.urlsplit(url)
            p.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as e:
            raise StoreError('invalid state store %r: %s; accepted forms: %s' % (mask_url(url), e, ACCEPTED_FORMS))
        if not p.hostname:
            raise StoreError('invalid state store %r: no host; accepted forms: %s' % (mask_url(url), ACCEPTED_FORMS))
        db = p.path.strip('/') or '0'
        if not db.isdigit():
            raise StoreError('invalid state store %r: the database %r is not a number; accepted forms: %s'
                             % (mask_url(url), db, ACCEPTED_FORMS))
        query = urllib.parse.parse_qsl(p.query, keep_blank_values=True)
        prefix = DEFAULT_REDIS_PREFIX
        rest = []
        for k, v in query:
            if k == 'prefix':
                prefix = v
            else:
                rest.append((k, v))
        clean = urllib.parse.urlunsplit((p.scheme, p.netloc, '/' + db, urllib.parse.urlencode(rest), ''))
        return 'redis', {'url': clean, 'prefix': prefix}
    if scheme == '' and url.startswith('/'):
        raise StoreError('invalid state store %r: a bare path is not a store URL; write sqlite://%s '
                         '(accepted forms: %s)' % (url, url, ACCEPTED_FORMS))
    raise StoreError('invalid state store %r: unknown scheme %r; accepted forms: %s'
                     % (mask_url(url), scheme or '(none)', ACCEPTED_FORMS))
