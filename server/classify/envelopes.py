"""BSP event bodies: where each vendor puts the failure, and the message it belongs to.

A body a BSP posts or answers is not Meta's: the error sits under a key of
the vendor's, beside the vendor's own message id and status. Each rule
below recognises one documented family by a key only it uses, reads the
message context, and appends one RawError per error it carries (a failed
status without an error object is one bare failure; a delivered one, none).

- YCloud: `whatsappMessage` (errorCode, errorMessage, whatsappApiError) and
  `whatsappInboundMessage.errors[]` (docs.ycloud.com, whatsapp-errors).
- Twilio: status callbacks (`MessageStatus`, `ErrorCode`) and Message
  resources (`sid`, `status`, `error_code`) (twilio.com/docs/messaging).
- Gupshup: `{"type": "message-event", "payload": {"type": "failed",
  "payload": {"code", "reason"}}}` (docs.gupshup.io, message-events).
- Infobip: delivery reports `results[]` with `status` and `error` objects,
  and `requestError.serviceException` (infobip.com/docs/api).
- Bird: a message's `failure` (`code`, `source`) with `reason`/`details`
  (docs.bird.com, message-failure-sources).
- Wati: `failedCode` / `failedDetail` events and `{"result": false, "info"}`
  answers (docs.wati.io, template-message-failed).
- 360dialog: `{"meta": {"success": false, "httpCode", "developerMessage"}}`
  (docs.360dialog.com, error-messages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whatsapp_errors.server.classify.error_fields import (
    as_list,
    copy,
    first_str,
    read_error,
    to_str,
)
from whatsapp_errors.server.classify.found import RawError, ensure_room
from whatsapp_errors.server.classify.transport import http_status_of

_FAILED = frozenset(("failed", "undelivered", "rejected", "undeliverable", "expired"))
_INFOBIP_FAILED = frozenset(("REJECTED", "UNDELIVERABLE", "EXPIRED"))
_BIRD_FAILED = frozenset(("sending_failed", "delivery_failed", "failed", "rejected"))

Rule = Callable[[dict[str, Any], RawError, str, list[RawError]], bool]


def read_envelope(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    """Appends the errors of a BSP body; False when no rule knows the body."""
    return any(rule(doc, ctx, path, out) for rule in _RULES)


def _ycloud(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    message = doc.get("whatsappMessage")
    inbound = doc.get("whatsappInboundMessage")
    if not isinstance(message, dict) and not isinstance(inbound, dict):
        return False
    if isinstance(message, dict):
        where = f"{path}.whatsappMessage"
        ids = copy(
            ctx,
            message_id=to_str(message.get("wamid")) or to_str(message.get("id")),
            recipient_id=to_str(message.get("to")),
            status=to_str(message.get("status")),
            phone_number_id=to_str(message.get("phoneNumberId")),
            business_account_id=to_str(message.get("wabaId")),
        )
        error = _subset(message, ("errorCode", "errorMessage", "whatsappApiError"))
        _error_or_failure(error, ids, where, out, "ycloud")
    if isinstance(inbound, dict):
        where = f"{path}.whatsappInboundMessage"
        ids = copy(ctx, message_id=to_str(inbound.get("wamid")), inbound=True)
        for i, item in enumerate(as_list(inbound, "errors", where)):
            read_error(item, ids, f"{where}.errors[{i}]", out, "ycloud")
    return True


def _twilio(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    if "MessageStatus" in doc or "SmsStatus" in doc or "ErrorCode" in doc:
        ids = copy(
            ctx,
            message_id=to_str(doc.get("MessageSid")) or to_str(doc.get("SmsSid")),
            recipient_id=to_str(doc.get("To")),
            status=to_str(doc.get("MessageStatus")) or to_str(doc.get("SmsStatus")),
        )
        error = _subset(doc, ("ErrorCode", "ErrorMessage"))
    elif isinstance(doc.get("sid"), str) and "error_code" in doc:
        ids = copy(
            ctx,
            message_id=doc["sid"],
            recipient_id=to_str(doc.get("to")),
            status=to_str(doc.get("status")),
        )
        error = _subset(doc, ("error_code", "error_message"))
    else:
        return False
    _error_or_failure(error, ids, path, out, "twilio")
    return True


def _gupshup(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    event = doc.get("payload")
    if not (isinstance(doc.get("type"), str) and doc["type"].endswith("-event")):
        return False
    if not isinstance(event, dict) or doc["type"] != "message-event":
        return True  # a user or billing event: no delivery error in it
    state = to_str(event.get("type"))
    ids = copy(
        ctx,
        message_id=to_str(event.get("gsId")) or to_str(event.get("id")),
        recipient_id=to_str(event.get("destination")),
        status=state,
    )
    if state.lower() == "failed":
        inner = event.get("payload")
        where = f"{path}.payload.payload"
        if isinstance(inner, dict) and inner:
            read_error(inner, ids, where, out, "gupshup")
            _own_number(out[-1], GUPSHUP_OWN_CODES)
        else:
            _bare(ids, f"{path}.payload", out, "gupshup")
    return True


GUPSHUP_OWN_CODES = range(1000, 5000)
"""Gupshup numbers its own failures 1001–1012 and 4001–4003: not Meta's (On-Premises 1002 is
"Invalid recipient type", Gupshup's 1002 "Number does not exist on WhatsApp")."""


def _own_number(raw: RawError, own: range) -> None:
    """A BSP's own number is its symbolic code, never a WhatsApp code it would collide with."""
    if raw.code is not None and raw.code in own:
        raw.symbolic_code, raw.code = str(raw.code), None


def _infobip(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    request_error = doc.get("requestError")
    if isinstance(request_error, dict):
        for key in ("serviceException", "policyException"):
            exception = request_error.get(key)
            if isinstance(exception, dict):
                where = f"{path}.requestError.{key}"
                ensure_room(out, where)
                symbol = to_str(exception.get("messageId"))
                out.append(_infobip_exception(ctx, where, symbol, exception))
                return True
        return False
    results = doc.get("results")
    if not (isinstance(results, list) and results and all(isinstance(r, dict) for r in results)):
        return False
    if not any("messageId" in r or "error" in r for r in results):
        return False
    for i, result in enumerate(results):
        where = f"{path}.results[{i}]"
        status = result.get("status")
        group = to_str(status.get("groupName")) if isinstance(status, dict) else ""
        ids = copy(
            ctx,
            message_id=to_str(result.get("messageId")),
            recipient_id=to_str(result.get("to")),
            status=group or to_str(status),
        )
        error = result.get("error")
        if isinstance(error, dict) and _infobip_is_error(error):
            ensure_room(out, f"{where}.error")
            out.append(_infobip_error(ids, f"{where}.error", error))
        elif group.upper() in _INFOBIP_FAILED:
            description = to_str(status.get("description")) if isinstance(status, dict) else ""
            _bare(copy(ids, message=description), where, out, "infobip")
    return True


def _infobip_exception(
    ctx: RawError, where: str, symbol: str, exception: dict[str, Any]
) -> RawError:
    return copy(
        ctx,
        path=where,
        symbolic_code=symbol,
        message=to_str(exception.get("text")),
        shape="infobip",
    )


def _infobip_is_error(error: dict[str, Any]) -> bool:
    """Infobip sends `error` on every report; NO_ERROR (id 0, group OK) means none."""
    return not (
        error.get("id") == 0
        or to_str(error.get("name")).upper() == "NO_ERROR"
        or to_str(error.get("groupName")).upper() == "OK"
    )


def _infobip_error(ids: RawError, where: str, error: dict[str, Any]) -> RawError:
    code = error.get("id")
    raw = copy(
        ids,
        path=where,
        code=code if isinstance(code, int) and not isinstance(code, bool) and code >= 0 else None,
        symbolic_code=to_str(error.get("name")),
        title=to_str(error.get("groupName")),
        message=to_str(error.get("description")),
        shape="infobip",
    )
    if error.get("permanent") is True:
        raw.is_transient = False
    return raw


def _bird(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    failure = doc.get("failure")
    if not isinstance(failure, dict):
        return False
    ids = copy(ctx, message_id=to_str(doc.get("id")), status=to_str(doc.get("status")))
    error: dict[str, Any] = {"code": failure.get("code")}
    source = failure.get("source")
    if isinstance(source, dict) and "whatsapp" in to_str(source.get("name")).lower():
        error["whatsappError"] = {"code": source.get("code")}
    text = to_str(doc.get("reason"))
    if text:
        error["message"] = text
    if to_str(doc.get("details")):
        error["details"] = doc["details"]
    read_error(error, ids, f"{path}.failure", out, "bird")
    return True


def _wati(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    if "failedCode" in doc or "failedDetail" in doc:
        ids = copy(
            ctx,
            message_id=to_str(doc.get("whatsappMessageId")) or to_str(doc.get("id")),
            status=to_str(doc.get("statusString")),
            timestamp=to_str(doc.get("timestamp")),
        )
        _error_or_failure(_subset(doc, ("failedCode", "failedDetail")), ids, path, out, "wati")
        return True
    if doc.get("result") is False and isinstance(doc.get("info"), str):
        read_error({"message": doc["info"]}, ctx, path, out, "wati")
        return True
    return False


def _dialog360(doc: dict[str, Any], ctx: RawError, path: str, out: list[RawError]) -> bool:
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        return False
    text = first_str(meta, ("developerMessage", "developer_message"))
    if meta.get("success") is not False and not text:
        return False
    where = f"{path}.meta"
    ensure_room(out, where)
    status = http_status_of(meta.get("httpCode", meta.get("http_code")))
    out.append(copy(ctx, path=where, message=text, http_status=status, shape="360dialog"))
    return True


def _subset(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The keys of `doc` that describe its error, without their null or empty values."""
    return {k: doc[k] for k in keys if doc.get(k) not in (None, "")}


def _error_or_failure(
    error: dict[str, Any], ids: RawError, path: str, out: list[RawError], shape: str
) -> None:
    """The error when the body names one; a bare failure when only its status says so."""
    if error:
        read_error(error, ids, path, out, shape)
    elif ids.status.lower() in _FAILED:
        _bare(ids, path, out, shape)


def _bare(ids: RawError, path: str, out: list[RawError], shape: str) -> None:
    ensure_room(out, path)
    out.append(copy(ids, path=path, shape=shape, message=ids.message))


_RULES: tuple[Rule, ...] = (_ycloud, _twilio, _gupshup, _infobip, _bird, _wati, _dialog360)
