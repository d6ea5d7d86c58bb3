# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""HTTP(S) transport to etcd's v3 JSON gateway: POST and streaming POST to ``/v3/...``, tokens, fail-over.

Standard library only. The opener is injected: ``default_opener()`` uses Ansible's ``open_url`` when
``ansible.module_utils.urls`` is importable (modules) and ``urllib`` otherwise (the RAM-disk helper on a node).
An opener is ``opener(url, data=None, headers=None, method='POST', timeout=10, tls=TLSOptions)`` and returns a
response object with ``read([size])`` and ``close()``; HTTP errors are raised as
``urllib.error.HTTPError`` (both openers do that).

Fail-over rules (``Transport.call`` with ``endpoint=None``): the endpoints are tried in order.

- a read goes to the next endpoint when one is unreachable, fails TLS, has no leader, times out, is unavailable
  or answers garbage (``FAILOVER_KINDS``);
- a change (``mutating=True``) goes to the next endpoint only when it certainly did not reach etcd (connection
  refused, TLS, no leader: ``MUTATING_FAILOVER_KINDS``). After a timeout or a broken connection it is not sent
  again and the error says it may have been applied (``details['may_have_been_applied']``). A connection that
  breaks after the request was sent (reset, closed without an answer, a cut answer) counts as such a loss; the
  modules then re-read and report what really happened (``_verify.confirm``).

Tokens: with ``user``/``password`` set the transport authenticates (``/v3/auth/authenticate``) per endpoint the
first time a call needs it, sends the token in the ``Authorization`` header and renews a rejected token once.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import base64
import json
import os
import socket
import ssl

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, Request, build_opener

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import (
    EtcdError,
    FAILOVER_KINDS,
    KIND_ALL_FAILED,
    KIND_AUTH,
    KIND_CONFIG,
    KIND_PRECONDITION,
    KIND_PROTOCOL,
    KIND_TIMEOUT,
    KIND_TLS,
    KIND_UNREACHABLE,
    KIND_INVALID,
    MUTATING_FAILOVER_KINDS,
    gateway_error,
    parse_error_body,
)

HTTP_AGENT = 'etcdkit.etcd'


# ------------------------------------------------------------------------------------- gateway value codecs

def to_int(value, default=0):
    """Gateway int64/uint64 values are strings, and zero values are omitted."""
    if value is None or value == '':
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def to_bytes(data):
    if data is None:
        return b''
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray):
        return bytes(data)
    return str(data).encode('utf-8')


def b64(data):
    """Encode str (UTF-8) or bytes for the gateway."""
    return base64.b64encode(to_bytes(data)).decode('ascii')


def unb64(text):
    if not text:
        return b''
    return base64.b64decode(text)


def prefix_end(key):
    """range_end that selects every key starting with ``key`` (bytes)."""
    key = bytearray(to_bytes(key))
    for i in range(len(key) - 1, -1, -1):
        if key[i] < 0xff:
            key[i] += 1
            return bytes(key[:i + 1])
    return b'\x00'  # every key


def format_id(member_id):
    """Member/cluster ids as etcdctl prints them (16 hex digits)."""
    if member_id is None:
        return None
    return '%016x' % int(member_id)


def parse_id(text):
    """Accept an id as int, 16-digit hex (etcdctl) or decimal string (gateway)."""
    if isinstance(text, int):
        return text
    text = str(text).strip().lower()
    if text.startswith('0x'):
        return int(text[2:], 16)
    if len(text) == 16 or any(c in 'abcdef' for c in text):
        return int(text, 16)
    return int(text)


def normalize_endpoint(endpoint):
    ep = str(endpoint).strip()
    if not ep:
        raise EtcdError('An empty string is not an etcd endpoint; give URLs like https://10.0.0.1:2379.',
                        kind=KIND_CONFIG)
    if '://' not in ep:
        ep = 'https://' + ep
    scheme = ep.split('://', 1)[0].lower()
    if scheme not in ('http', 'https'):
        raise EtcdError('Endpoint %r: only http:// and https:// endpoints are supported by the JSON gateway '
                        '(unix sockets are not).' % endpoint, kind=KIND_CONFIG)
    return ep.rstrip('/')


# ------------------------------------------------------------------------------------------------- openers

class TLSOptions(object):
    """Files and switches for TLS; checked once when the transport is created."""

    def __init__(self, ca_cert=None, client_cert=None, client_key=None, validate_certs=True):
        self.ca_cert = ca_cert or None
        self.client_cert = client_cert or None
        self.client_key = client_key or None
        self.validate_certs = bool(validate_certs)

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_cert)
        if not self.validate_certs:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx


def urllib_opener(url, data=None, headers=None, method='POST', timeout=10, tls=None):
    """Opener on ``urllib`` alone (no proxies, no redirects)."""
    tls = tls or TLSOptions()
    handlers = [HTTPSHandler(context=tls.ssl_context())] if url.startswith('https://') else []
    from urllib.request import ProxyHandler, HTTPRedirectHandler  # pylint: disable=import-outside-toplevel

    class _Refuse(HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # pylint: disable=unused-argument
            return None

    opener = build_opener(ProxyHandler({}), _Refuse(), *handlers)
    body = data.encode('utf-8') if isinstance(data, str) else data
    req = Request(url, data=body, headers=dict(headers or {}), method=method)
    req.add_header('User-Agent', HTTP_AGENT)
    return opener.open(req, timeout=timeout)


def ansible_opener(open_url):
    """Opener on Ansible's ``open_url`` (modules: same TLS/proxy behaviour as the rest of Ansible)."""

    def _open(url, data=None, headers=None, method='POST', timeout=10, tls=None):
        tls = tls or TLSOptions()
        kwargs = dict(
            data=data, headers=headers, method=method, timeout=timeout, validate_certs=tls.validate_certs,
            use_proxy=False, follow_redirects='none', client_cert=tls.client_cert, client_key=tls.client_key,
            ca_path=tls.ca_cert, http_agent=HTTP_AGENT,
        )
        try:
            return open_url(url, use_netrc=False, **kwargs)
        except TypeError as exc:  # pragma: no cover - ansible-core without use_netrc
            if 'use_netrc' not in str(exc):
                raise
            return open_url(url, **kwargs)

    return _open


def default_opener():
    """Ansible's open_url when importable, urllib otherwise."""
    try:
        from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
    except ImportError:
        return urllib_opener
    return ansible_opener(open_url)


# ------------------------------------------------------------------------------------ exception mapping

def _reason_text(reason):
    if isinstance(reason, BaseException):
        return str(reason) or reason.__class__.__name__
    return str(reason)


def _is_tls_error(exc):
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return True
    name = exc.__class__.__name__
    return 'SSL' in name or 'Certificate' in name


def transport_error(exc, endpoint, timeout):
    """Turn a non-HTTP exception of an opener into EtcdError."""
    reason = getattr(exc, 'reason', exc) if isinstance(exc, URLError) else exc
    text = _reason_text(reason)
    low = text.lower()
    if _is_tls_error(reason) or _is_tls_error(exc) or 'certificate' in low or 'ssl' in low:
        hint = ('Check ca_cert (the CA that signed the server certificate), that the endpoint address is in '
                'the server certificate, and client_cert/client_key when the cluster requires client '
                'certificates.')
        if 'wrong_version_number' in low or 'wrong version number' in low:
            hint = 'The endpoint does not speak TLS; use an http:// endpoint or enable TLS on etcd.'
        return EtcdError('TLS error talking to %s: %s. %s' % (endpoint, text, hint), kind=KIND_TLS,
                         endpoint=endpoint)
    if isinstance(reason, socket.timeout) or 'timed out' in low:
        return EtcdError('Timed out after %ss talking to %s. Is the endpoint right and the member '
                         'running? Raise timeout for slow operations.' % (timeout, endpoint),
                         kind=KIND_TIMEOUT if isinstance(exc, socket.timeout) else KIND_UNREACHABLE,
                         endpoint=endpoint)
    hint = 'Check that the member is running and listens on this address.'
    if endpoint.startswith('http://') and ('closed connection' in low or 'reset' in low):
        hint = ('The member closed the connection: if it serves TLS, use an https:// endpoint '
                '(and ca_cert/client_cert/client_key).')
    if isinstance(reason, (ConnectionError, OSError, socket.error, HTTPException)) or isinstance(exc, URLError):
        return EtcdError('Cannot connect to etcd endpoint %s: %s. %s' % (endpoint, text, hint),
                         kind=KIND_UNREACHABLE, endpoint=endpoint)
    return EtcdError('Error talking to %s: %s (%s).' % (endpoint, text, exc.__class__.__name__),
                     kind=KIND_UNREACHABLE, endpoint=endpoint)


def http_error(exc, endpoint, path, client_cert=None):
    """Turn an HTTPError (non-2xx answer) into EtcdError, parsing etcd's error body."""
    try:
        body = exc.read()
    except Exception:  # pylint: disable=broad-except
        body = b''
    status = exc.code
    parsed = None
    text = None
    try:
        parsed = parse_error_body(json.loads(body.decode('utf-8', 'replace')))
    except (ValueError, AttributeError):
        text = body.decode('utf-8', 'replace').strip()[:300] or None
    if parsed is not None and parsed[0] is not None:
        return gateway_error(parsed[0], parsed[1], endpoint, path, status=status)
    text = (parsed[1] if parsed else None) or text or (getattr(exc, 'reason', '') or '')
    if status == 400 and 'https' in (text or '').lower():
        return EtcdError('%s answered HTTP 400: %s. The member serves TLS: use an https:// endpoint.'
                         % (endpoint, text), kind=KIND_CONFIG, endpoint=endpoint, status=status)
    hint = ''
    if status == 400 and client_cert:
        hint = (' If etcd runs with client-certificate auth and authentication enabled, its JSON gateway '
                'rejects client certificates that carry a CommonName: use a certificate without CN '
                '(subjectAltName only) together with user/password.')
    if status == 404:
        hint = ' Is this an etcd v3 client URL (not a peer URL or a proxy)?'
    return EtcdError('%s answered HTTP %s to %s: %s.%s' % (endpoint, status, path, text or 'no body', hint),
                     kind=KIND_PROTOCOL if status != 400 else KIND_INVALID, endpoint=endpoint,
                     status=status, server_message=text)


# ----------------------------------------------------------------------------------------------- transport

class Transport(object):
    """Endpoints, TLS, credentials and the opener; ``call``, ``stream`` and ``get_json`` (see module doc)."""

    def __init__(self, endpoints, ca_cert=None, client_cert=None, client_key=None, user=None, password=None,
                 timeout=10, validate_certs=True, opener=None):
        if isinstance(endpoints, str):
            endpoints = endpoints.split(',')
        endpoints = [e for e in (endpoints or []) if e is not None and str(e).strip()]
        if not endpoints:
            raise EtcdError('No etcd endpoint given: set endpoints (or ETCDCTL_ENDPOINTS).', kind=KIND_CONFIG)
        self.endpoints = []
        for ep in endpoints:
            ep = normalize_endpoint(ep)
            if ep not in self.endpoints:
                self.endpoints.append(ep)
        for opt, path in (('ca_cert', ca_cert), ('client_cert', client_cert), ('client_key', client_key)):
            if path and not os.access(path, os.R_OK):
                raise EtcdError('%s: the file %s does not exist or is not readable.' % (opt, path),
                                kind=KIND_CONFIG)
        if bool(client_cert) != bool(client_key):
            raise EtcdError('client_cert and client_key must be given together.', kind=KIND_CONFIG)
        if user and (password is None or password == ''):
            raise EtcdError('user is set but password is empty; give both user and password.',
                            kind=KIND_CONFIG)
        if password and not user:
            raise EtcdError('password is set but user is not; give both user and password.', kind=KIND_CONFIG)
        try:
            self.timeout = float(timeout) if timeout else 10.0
        except (TypeError, ValueError):
            raise EtcdError('timeout must be a number of seconds, got %r.' % (timeout,), kind=KIND_CONFIG)
        self.tls = TLSOptions(ca_cert, client_cert, client_key, validate_certs)
        self.user = user or None
        self.password = password
        self.opener = opener or default_opener()
        self._tokens = {}
        self._auth_unavailable = set()

    # -------------------------------------------------------------------------------------- one request

    def open(self, url, data=None, headers=None, method='POST', timeout=None):
        hdrs = {'Content-Type': 'application/json', 'Accept': 'application/json'}
        hdrs.update(headers or {})
        return self.opener(url, data=data, headers=hdrs, method=method, timeout=timeout or self.timeout,
                           tls=self.tls)

    def _request(self, endpoint, path, body, timeout=None, token=None, method='POST'):
        """Send one request; return the response object (caller reads and closes)."""
        headers = {'Authorization': token} if token else {}
        data = json.dumps(body if body is not None else {}) if method == 'POST' else None
        try:
            return self.open(endpoint + path, data=data, headers=headers, method=method, timeout=timeout)
        except HTTPError as exc:
            raise http_error(exc, endpoint, path, self.tls.client_cert)
        except EtcdError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            # urllib, http.client, ssl and open_url's own wrappers all end up here
            raise _mark_sent(transport_error(exc, endpoint, timeout or self.timeout), _response_phase(exc))

    def raw(self, endpoint, path, body, timeout=None, token=None):
        """POST once to one endpoint, without authentication logic; return the JSON answer (dict)."""
        resp = self._request(endpoint, path, body, timeout=timeout, token=token)
        try:
            data = resp.read()
        except Exception as exc:  # pylint: disable=broad-except
            # the request was sent and answered: etcd may have applied it
            raise _mark_sent(transport_error(exc, endpoint, timeout or self.timeout), True)
        finally:
            _close(resp)
        try:
            result = json.loads(data.decode('utf-8'))
        except ValueError:
            raise EtcdError('%s returned something that is not JSON for %s: %r' % (endpoint, path, data[:200]),
                            kind=KIND_PROTOCOL, endpoint=endpoint)
        parsed = parse_error_body(result)
        if parsed is not None:
            raise gateway_error(parsed[0], parsed[1], endpoint, path)
        if not isinstance(result, dict):
            raise EtcdError('%s returned unexpected JSON for %s' % (endpoint, path), kind=KIND_PROTOCOL,
                            endpoint=endpoint)
        return result

    def get_json(self, endpoint, path, timeout=None):
        """GET ``path`` (e.g. ``/health``); returns ``(http_status, parsed JSON)``; a non-2xx answer with a JSON
        body is returned too (``/health`` answers 503 with a body)."""
        endpoint = normalize_endpoint(endpoint)
        try:
            resp = self.open(endpoint + path, method='GET', timeout=timeout)
            status = getattr(resp, 'status', None) or getattr(resp, 'code', None) or 200
            raw = resp.read()
            _close(resp)
        except HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read().decode('utf-8'))
            except Exception:  # pylint: disable=broad-except
                raise http_error(exc, endpoint, path, self.tls.client_cert)
        except Exception as exc:  # pylint: disable=broad-except
            raise transport_error(exc, endpoint, timeout or self.timeout)
        try:
            return status, json.loads(raw.decode('utf-8'))
        except ValueError:
            raise EtcdError('%s%s did not return JSON' % (endpoint, path), kind=KIND_PROTOCOL, endpoint=endpoint)

    # ----------------------------------------------------------------------------------------- tokens

    def authenticate(self, endpoint, timeout=None):
        """Get (and cache) a token for ``endpoint``; '' when authentication is not enabled on the cluster."""
        try:
            result = self.raw(endpoint, '/v3/auth/authenticate',
                              {'name': self.user, 'password': self.password or ''}, timeout=timeout)
        except EtcdError as err:
            if err.kind == KIND_AUTH or 'authentication failed' in (err.server_message or ''):
                raise EtcdError('Authentication as user %r failed at %s: %s. Check the user and password '
                                'options.' % (self.user, endpoint, err.server_message or err.message),
                                kind=KIND_AUTH, endpoint=endpoint, code=err.code, status=err.status,
                                server_message=err.server_message)
            if err.kind == KIND_PRECONDITION and 'not enabled' in (err.server_message or ''):
                # auth is disabled on the cluster: requests work without a token
                self._tokens[endpoint] = ''
                return ''
            raise
        token = result.get('token') or ''
        self._tokens[endpoint] = token
        return token

    def forget_tokens(self):
        self._tokens.clear()
        self._auth_unavailable.clear()

    def _token(self, endpoint, timeout, auth):
        if not (auth and self.user):
            return None
        token = self._tokens.get(endpoint)
        if token is not None:
            return token
        if auth == 'lazy' and endpoint in self._auth_unavailable:
            return ''
        try:
            return self.login(endpoint, timeout)
        except EtcdError as err:
            # authentication is a raft request: without a leader it cannot work, but reads that etcd
            # serves without a user still can
            if auth != 'lazy' or err.kind not in FAILOVER_KINDS:
                raise
            self._auth_unavailable.add(endpoint)
            return ''

    def login(self, endpoint, timeout=None):
        """A token for ``endpoint``. A learner serves no raft request, Authenticate included ("rpc not supported
        for learner"), yet it accepts a token issued by another member: a simple token is assigned through raft
        and so known to every member that applied it, a JWT is signed. So a learner's token comes from the first
        other endpoint that can log in (etcd >= 3.5.28 with auth on answers even Status only to a user)."""
        try:
            return self.authenticate(endpoint, timeout)
        except EtcdError as err:
            if 'not supported for learner' not in (err.server_message or err.message or ''):
                raise
            for other in self.endpoints:
                if other == endpoint:
                    continue
                try:
                    token = self.authenticate(other, timeout)
                except EtcdError:
                    continue
                self._tokens[endpoint] = token
                return token
            raise

    def call_one(self, endpoint, path, body, timeout=None, auth=True):
        token = self._token(endpoint, timeout, auth)
        try:
            return self.raw(endpoint, path, body, timeout=timeout, token=token)
        except EtcdError as err:
            if not (auth and self.user) or err.kind != KIND_AUTH \
                    or 'authentication failed' in (err.server_message or ''):
                raise
            # token expired/invalid or the server now wants one: renew once
            self._tokens.pop(endpoint, None)
            token = self.login(endpoint, timeout)
            return self.raw(endpoint, path, body, timeout=timeout, token=token)

    # -------------------------------------------------------------------------------------- fail-over

    def call(self, path, body=None, endpoint=None, timeout=None, auth=True, mutating=False):
        """POST ``body`` to ``path``; with ``endpoint=None`` fail over as the module doc says."""
        if endpoint is not None:
            try:
                return self.call_one(normalize_endpoint(endpoint), path, body, timeout, auth)
            except EtcdError as err:
                raise _uncertain(err, path) if mutating else err
        errors = []
        for ep in self.endpoints:
            try:
                return self.call_one(ep, path, body, timeout, auth)
            except EtcdError as err:
                kinds = MUTATING_FAILOVER_KINDS if mutating else FAILOVER_KINDS
                if err.kind not in kinds or (mutating and ('timed out' in err.message.lower()
                                                           or err.details.get('sent'))):
                    raise _uncertain(err, path) if mutating else err
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        kinds = set(e.kind for e in errors)
        kind = kinds.pop() if len(kinds) == 1 else KIND_ALL_FAILED
        raise EtcdError('No etcd endpoint could serve %s: %s' % (path, ' | '.join(e.message for e in errors)),
                        kind=kind, errors=errors)

    def stream(self, path, body=None, endpoint=None, timeout=None, binary_field=None):
        """Generator over the ``result`` objects of a server-streaming call (newline-delimited JSON).

        The body is read in large blocks (``STREAM_READ``) and split into lines here: http.client's ``readline``
        goes through the chunked encoding a few bytes at a time. ``binary_field`` (e.g. ``'blob'`` of a
        snapshot) names a base64 string field of ``result`` that is cut out of each line before the JSON parser
        sees it and comes back decoded, as bytes (a snapshot is ~17,000 lines of 44 KB of base64: the parser
        would scan and copy every byte once more)."""
        endpoint = normalize_endpoint(endpoint or self.endpoints[0])
        token = self._token(endpoint, timeout, True)
        resp = self._request(endpoint, path, body or {}, timeout=timeout, token=token)
        try:
            for line in _stream_lines(resp, endpoint, timeout or self.timeout):
                blob = None
                if binary_field:
                    line, blob = _cut_field(line, binary_field)
                try:
                    item = json.loads(line.decode('utf-8'))
                except ValueError:
                    raise EtcdError('%s sent a malformed stream line for %s' % (endpoint, path),
                                    kind=KIND_PROTOCOL, endpoint=endpoint)
                parsed = parse_error_body(item)
                if parsed is not None:
                    raise gateway_error(parsed[0], parsed[1], endpoint, path)
                result = item.get('result', item)
                if binary_field and isinstance(result, dict):
                    try:
                        result[binary_field] = unb64(blob if blob is not None else result.get(binary_field))
                    except (TypeError, ValueError):
                        raise EtcdError('%s sent a %s that is not base64 for %s' % (endpoint, binary_field, path),
                                        kind=KIND_PROTOCOL, endpoint=endpoint)
                yield result
        finally:
            _close(resp)


STREAM_READ = 1024 * 1024


def _stream_lines(resp, endpoint, timeout):
    """The non-empty lines of a streamed response body, read ``STREAM_READ`` bytes at a time."""
    rest = b''
    while True:
        try:
            block = resp.read(STREAM_READ)
        except Exception as exc:  # pylint: disable=broad-except
            raise transport_error(exc, endpoint, timeout)
        if not block:
            break
        lines = (rest + block).split(b'\n') if rest else block.split(b'\n')
        rest = lines.pop()
        for line in lines:
            if line.strip():
                yield line
    if rest.strip():
        yield rest


def _cut_field(line, name):
    """``(line without the string field "name", the field's raw value as bytes)``, or ``(line, None)`` when the
    field is not there (e.g. an error line). The value is base64, which has no quote or backslash, so it ends
    at the next quote."""
    marker = b'"' + name.encode('ascii') + b'":"'
    start = line.find(marker)
    if start < 0:
        return line, None
    begin = start + len(marker)
    end = line.find(b'"', begin)
    if end < 0:
        return line, None
    value = line[begin:end]
    # drop the field and one comma next to it, so the rest stays valid JSON
    head, tail = line[:start], line[end + 1:]
    if tail.lstrip().startswith(b','):
        tail = tail.lstrip()[1:]
    elif head.rstrip().endswith(b','):
        head = head.rstrip()[:-1]
    return head + tail, value


def _response_phase(exc):
    """Did the opener fail AFTER the request was sent (while waiting for or reading the answer)? urllib wraps
    errors of connecting and sending in URLError; an error of reading the answer (reset, closed without an
    answer, a cut body, a read timeout) comes through as it is. Such a change may have been applied."""
    if isinstance(exc, URLError):
        return False
    return isinstance(exc, (ConnectionResetError, HTTPException, socket.timeout))


def _mark_sent(err, sent):
    if sent:
        err.details = dict(err.details, sent=True)
    return err


def _uncertain(err, path):
    """A change whose answer was lost (timeout, broken connection) may have been applied: say so."""
    if err.kind == KIND_TIMEOUT or (err.kind == KIND_UNREACHABLE and 'timed out' in err.message.lower()) \
            or err.details.get('sent'):
        err.message = ('%s The change (%s) was sent and may have been applied; check before repeating it.'
                       % (err.message, path))
        err.details = dict(err.details, may_have_been_applied=True)
    return err


def _close(resp):
    try:
        resp.close()
    except Exception:  # pylint: disable=broad-except
        pass
