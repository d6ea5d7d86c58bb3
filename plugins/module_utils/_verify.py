# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""After a change whose answer was lost: re-read and say what really happened (standard library only).

The transport does not send a change again when its answer was lost (a timeout, or a connection that broke after
the request was sent) and marks the error ``details['may_have_been_applied'] = True``. A caller then re-reads:
``confirm(err, check)`` returns True when the change is in place (report ``changed=True``), or raises ``err`` with
the finding: "it was not applied" (``may_have_been_applied`` False) or, when the re-read fails too, still "may have
been applied" (the module reports ``changed=True`` then: something may have been written).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError

LANDED_WARNING = ('the answer to %s was lost (%s), but a re-read shows it was applied; reporting changed')


def uncertain(err):
    """Is ``err`` (or the cause of an ``ActionFailed``) a change that may have been applied?"""
    for e in (err, getattr(err, 'cause', None)):
        if isinstance(e, CoreError) and e.details.get('may_have_been_applied'):
            return True
    return False


def confirm(err, check, what='the change'):
    """``err`` was raised by a change; ``check()`` re-reads and returns True when the change is in place.

    Returns True when it landed. Raises ``err`` when it is not an uncertain change, when the change was not
    applied (message says so, ``may_have_been_applied`` False) or when the re-read failed (message says so)."""
    if not uncertain(err):
        raise err
    target = err if isinstance(err.details, dict) and 'may_have_been_applied' in err.details else err.cause
    try:
        landed = check()
    except CoreError as again:
        err.message = '%s Re-reading to see whether %s was applied failed too: %s' % (err.message, what,
                                                                                      again.message)
        raise err
    if landed:
        return True
    target.details = dict(target.details, may_have_been_applied=False, applied=False)
    err.message = '%s A re-read shows that %s was not applied (nothing changed); it is safe to run again.' % (
        err.message, what)
    raise err


def attempt(write, check, what='the change'):
    """Run the change ``write()``. Returns ``(True, its result)`` when etcd answered, ``(False, None)`` when the
    answer was lost but ``check()`` (a re-read) shows the change in place; raises otherwise (see ``confirm``)."""
    try:
        return True, write()
    except CoreError as err:
        confirm(err, check, what)
        return False, None
