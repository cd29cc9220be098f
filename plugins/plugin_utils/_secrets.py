# -*- coding: utf-8 -*-
# Copyright (c) jobnet.scheduler contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secrets of frame jobs: looked up on the controller at launch, never recorded, never printed.

A job of a frame may give ``secret_env: {ENV_NAME: ansible_variable}``. The frame definition (and so the state
store) keeps only those names. The value is the Ansible variable of the job's host (inventory or group
variables, a vault-encrypted file, ``-e @file``, an AWX credential's injected extra variables), resolved by the
host's driver just before the launch call and passed to the ``job`` module's ``secret_env`` option, which is
``no_log``. The value is held only for the call: it is not kept in the records, the events, the status, the run
chart or any result.
"""

from __future__ import annotations


class SecretError(ValueError):
    """A secret that cannot be looked up; the message names the variable and the host, never a value."""


def wanted(defn):
    """``[(path, host, env_name, variable)]`` of every secret of a frame definition, in definition order."""
    out = []
    for item in defn.get('items') or []:
        if item.get('kind') != 'job':
            continue
        for env_name, variable in sorted((item.get('secret_env') or {}).items()):
            out.append((item['path'], item.get('host'), env_name, variable))
    return out


def missing(defn, hostvars):
    """The problems of a definition whose secrets are not defined for their hosts (submit refuses them).

    ``hostvars`` is Ansible's ``hostvars`` (host -> its variables). Only whether each variable is defined is
    looked at: no value is read here.
    """
    problems = []
    for path, host, env_name, variable in wanted(defn):
        try:
            known = hostvars[host]
            defined = variable in known
        except Exception:  # pylint: disable=broad-exception-caught
            defined = False
        if not defined:
            problems.append('job %s: secret_env %s: the variable %s is not defined for host %s (define it in the '
                            'inventory, a vault-encrypted vars file, -e @FILE or an AWX credential)'
                            % (path, env_name, variable, host))
    return problems


def value_text(value, variable, host):
    """The value of a secret as the text the job gets; refuses what is not text (naming no value)."""
    if isinstance(value, (bool, dict, list, tuple)) or value is None:
        raise SecretError('the variable %s of host %s is %s, not a string' % (variable, host, type(value).__name__))
    if isinstance(value, (int, float)):
        value = str(value)
    try:
        text = str(value)   # a vault-encrypted string decrypts here
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise SecretError('the variable %s of host %s cannot be read: %s' % (variable, host, type(exc).__name__))
    if '\0' in text:
        raise SecretError('the variable %s of host %s holds a NUL byte, which no environment variable can hold'
                          % (variable, host))
    return text


class Resolver:
    """Looks up the secrets of one host's jobs in that host's variables (the driver's task variables)."""

    def __init__(self, host, task_vars, templar=None):
        self.host = host
        self.task_vars = task_vars
        self.templar = templar

    def __call__(self, variable):
        if variable not in self.task_vars:
            raise SecretError('the variable %s is not defined for host %s' % (variable, self.host))
        value = self.task_vars[variable]
        if self.templar is not None:
            try:
                value = self.templar.copy_with_new_env(available_variables=self.task_vars) \
                    .resolve_variable_expression(variable)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # the exception text may quote a template, never print it
                raise SecretError('the variable %s of host %s cannot be resolved (%s)'
                                  % (variable, self.host, type(exc).__name__)) from None
        return value_text(value, variable, self.host)


def resolve(spec, lookup):
    """Replace the names of ``spec['secret_env']`` (env name -> variable) by their values, in place."""
    names = spec.get('secret_env')
    if not names:
        return spec
    if lookup is None:
        raise SecretError('no secret lookup on this driver for %s' % ', '.join(sorted(names)))
    values = {}
    for env_name, variable in sorted(names.items()):
        try:
            values[env_name] = lookup(variable)
        except SecretError as exc:
            raise SecretError('secret_env %s: %s' % (env_name, exc)) from None
    spec['secret_env'] = values
    return spec
