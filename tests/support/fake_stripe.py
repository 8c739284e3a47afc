"""A local fake of the Stripe API for the endpoints Tollgate uses, driven by real stripe-python.

It speaks Stripe's wire protocol: form-encoded bodies with bracketed keys, Bearer secret keys,
`Stripe-Version`, `Idempotency-Key` replay (same key and body: the stored response again; same
key, other body: 400 idempotency_error; keys are forgotten after 24 h, as Stripe does), list
objects with cursors, and Stripe's error shape. It records every request and can be told to fail
the next matching ones. Objects follow the fields Stripe returns for them; state transitions
follow Stripe's (a finalized invoice takes no more items; only a draft finalizes; a draft with
`auto_advance` is finalized by Stripe itself an hour after its creation). Its clock is the wall
clock plus an offset a test moves with `advance()`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY = "sk_test_tollgate_fake"
WEBHOOK_SECRET = "whsec_test_tollgate_fake"
IDEMPOTENCY_WINDOW = 24 * 3600
AUTO_FINALIZE_AFTER = 3600
_TOKEN = re.compile(r"([^\[\]]+)|\[([^\]]*)\]")


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's bracketed form encoding (`a[b][c]=v`, `a[0]=v`) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(key)]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Failure:
    """Answer the next `count` requests matching method and path prefix with an error."""

    method: str
    path_prefix: str
    status: int
    count: int = 1
    skip: int = 0


class StripeError(Exception):
    def __init__(
        self, status: int, message: str, kind: str = "invalid_request_error", code: str = ""
    ):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


@dataclass
class FakeStripe:
    """The fake's state: objects by id, requests, idempotency cache and pending failures."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    offset: float = 0.0
    """Seconds the fake's clock is ahead of the wall clock (see `advance`)."""
    _idempotency: dict[str, tuple[str, int, dict[str, Any], float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # --- test-facing helpers -------------------------------------------------------------------

    def now(self) -> int:
        """The fake's clock, in Unix seconds."""
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> None:
        """Move the clock on; Stripe's own work falls due (auto-advanced drafts finalize)."""
        with self._lock:
            self.offset += seconds
            for invoice in self.of_type("invoice"):
                due = invoice["created"] + AUTO_FINALIZE_AFTER <= self.now()
                if invoice["status"] == "draft" and invoice["auto_advance"] and due:
                    self._finalize(invoice)

    def fail_next(
        self, method: str, path_prefix: str, status: int = 500, count: int = 1, skip: int = 0
    ) -> None:
        """Let `skip` matching requests through, then fail `count` (an outage mid-job)."""
        self.failures.append(Failure(method, path_prefix, status, count, skip))

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        """Requests received for a path prefix (replays included)."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Every object of a Stripe type (`customer`, `invoice`, `invoiceitem` …)."""
        return [o for o in self.objects.values() if o["object"] == kind]

    def complete_setup(self, session_id: str, payment_method: str | None = None) -> dict[str, Any]:
        """The customer finished Checkout: its SetupIntent succeeded with a new card."""
        with self._lock:
            session = self.objects[session_id]
            intent = self.objects[session["setup_intent"]]
            pm = payment_method or self._id("pm")
            self.objects[pm] = {
                "id": pm,
                "object": "payment_method",
                "type": "card",
                "customer": session["customer"],
                "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034},
                "created": self.now(),
            }
            intent.update(status="succeeded", payment_method=pm)
            session.update(status="complete")
            return dict(session)

    def set_invoice_status(self, invoice_id: str, status: str) -> dict[str, Any]:
        """Stripe moved an invoice on (charged: `paid`; failed attempts keep it `open`)."""
        with self._lock:
            invoice = self.objects[invoice_id]
            invoice["status"] = status
            if status == "paid":
                invoice["amount_paid"], invoice["amount_remaining"] = invoice["total"], 0
            return dict(invoice)

    # --- protocol ----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._seq):06d}{secrets.token_hex(6)}"

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        split = urlsplit(raw_path)
        path = split.path
        params = decode_form(split.query if method in ("GET", "DELETE") else body)
        with self._lock:
            self.requests.append(Recorded(method, path, params, headers))
            if headers.get("authorization") != f"Bearer {API_KEY}":
                return 401, _error(401, "Invalid API Key provided", "invalid_request_error"), {}
            for failure in self.failures:
                if (
                    failure.count > 0
                    and failure.method == method
                    and path.startswith(failure.path_prefix)
                ):
                    if failure.skip > 0:
                        failure.skip -= 1
                        continue
                    failure.count -= 1
                    return (
                        failure.status,
                        _error(failure.status, "injected failure", "api_error"),
                        {},
                    )
            key = headers.get("idempotency-key")
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            stored = self._idempotency.get(key) if method == "POST" and key else None
            if stored is not None and stored[3] + IDEMPOTENCY_WINDOW <= self.now():
                stored = None  # Stripe keeps a key 24 hours; then the request runs again
            if stored is not None:
                seen, status, response, _ = stored
                if seen != fingerprint:
                    message = (
                        "Keys for idempotent requests can only be used with the same parameters"
                    )
                    return 400, _error(400, message, "idempotency_error"), {}
                return status, response, {"Idempotent-Replayed": "true"}
            try:
                status, response = 200, self._route(method, path, params)
            except StripeError as exc:
                status, response = exc.status, _error(exc.status, exc.message, exc.kind, exc.code)
            if method == "POST" and key:
                self._idempotency[key] = (fingerprint, status, response, self.now())
            return status, response, {}

    def _route(self, method: str, path: str, p: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        match method, parts:
            case "POST", ["customers"]:
                return self._create(
                    "cus",
                    "customer",
                    {
                        "name": p.get("name"),
                        "email": p.get("email"),
                        "metadata": p.get("metadata", {}),
                        "invoice_settings": {"default_payment_method": None},
                    },
                )
            case "GET", ["customers", cid]:
                return self._get(cid, "customer")
            case "POST", ["customers", cid]:
                customer = self._get(cid, "customer")
                settings = p.get("invoice_settings", {})
                if "default_payment_method" in settings:
                    self._get(settings["default_payment_method"], "payment_method")
                    customer["invoice_settings"]["default_payment_method"] = settings[
                        "default_payment_method"
                    ]
                customer["metadata"].update(p.get("metadata", {}))
                return customer
            case "POST", ["checkout", "sessions"]:
                return self._checkout(p)
            case "POST", ["billing_portal", "sessions"]:
                self._get(_required(p, "customer"), "customer")
                sid = self._id("bps")
                return self._store(
                    {
                        "id": sid,
                        "object": "billing_portal.session",
                        "customer": p["customer"],
                        "return_url": p.get("return_url"),
                        "url": f"https://billing.stripe.com/p/session/{sid}",
                        "livemode": False,
                        "created": self.now(),
                    }
                )
            case "GET", ["setup_intents", sid]:
                return self._get(sid, "setup_intent")
            case "POST", ["invoices"]:
                self._get(_required(p, "customer"), "customer")
                return self._create(
                    "in",
                    "invoice",
                    {
                        "customer": p["customer"],
                        "status": "draft",
                        "currency": p.get("currency", "usd"),
                        "collection_method": p.get("collection_method", "charge_automatically"),
                        "auto_advance": p.get("auto_advance") == "true",
                        "description": p.get("description"),
                        "metadata": p.get("metadata", {}),
                        "total": 0,
                        "subtotal": 0,
                        "amount_due": 0,
                        "amount_paid": 0,
                        "amount_remaining": 0,
                        "pending_invoice_items_behavior": p.get("pending_invoice_items_behavior"),
                    },
                )
            case "GET", ["invoices"]:
                since = int(p.get("created", {}).get("gte", 0))
                invoices = [
                    i
                    for i in self.of_type("invoice")
                    if i["customer"] == p.get("customer") and i["created"] >= since
                ]
                return self._page("/v1/invoices", invoices, p)
            case "GET", ["invoices", iid]:
                return self._get(iid, "invoice")
            case "POST", ["invoices", iid, "finalize"]:
                invoice = self._get(iid, "invoice")
                if invoice["status"] != "draft":
                    raise StripeError(
                        400, "This invoice is already finalized.", code="invoice_not_editable"
                    )
                return self._finalize(invoice, p.get("auto_advance", "true") == "true")
            case "POST", ["invoices", iid, "pay"]:
                invoice = self._get(iid, "invoice")
                if invoice["status"] != "open":
                    raise StripeError(
                        400, f"Invoice is {invoice['status']}.", code="invoice_unexpected_state"
                    )
                invoice.update(status="paid", paid_out_of_band=p.get("paid_out_of_band") == "true")
                return invoice
            case "POST", ["invoiceitems"]:
                invoice = self._get(_required(p, "invoice"), "invoice")
                if invoice["status"] != "draft":
                    raise StripeError(
                        400, "The invoice is no longer a draft.", code="invoice_not_editable"
                    )
                if p.get("customer") != invoice["customer"]:
                    raise StripeError(400, "The customer does not match the invoice's.")
                period = p.get("period", {})
                return self._create(
                    "ii",
                    "invoiceitem",
                    {
                        "customer": p["customer"],
                        "invoice": invoice["id"],
                        "amount": int(_required(p, "amount")),
                        "currency": p.get("currency", "usd"),
                        "description": p.get("description"),
                        "metadata": p.get("metadata", {}),
                        "period": {
                            "start": int(period.get("start", 0)),
                            "end": int(period.get("end", 0)),
                        },
                    },
                )
            case "POST", ["invoiceitems", item_id]:
                item = self._draft_item(item_id)
                if "amount" in p:
                    item["amount"] = int(p["amount"])
                item["metadata"].update(p.get("metadata", {}))
                return item
            case "DELETE", ["invoiceitems", item_id]:
                self._draft_item(item_id)
                del self.objects[item_id]
                return {"id": item_id, "object": "invoiceitem", "deleted": True}
            case "GET", ["invoiceitems"]:
                items = [i for i in self.of_type("invoiceitem") if i["invoice"] == p.get("invoice")]
                return self._page("/v1/invoiceitems", items, p)
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _finalize(self, invoice: dict[str, Any], auto_advance: bool = True) -> dict[str, Any]:
        items = self.of_type("invoiceitem")
        total = sum(i["amount"] for i in items if i["invoice"] == invoice["id"])
        invoice.update(
            status="open",
            total=total,
            subtotal=total,
            amount_due=total,
            amount_remaining=total,
            auto_advance=auto_advance,
            number=f"TG-{next(self._seq):04d}",
            finalized_at=self.now(),
        )
        return invoice

    def _draft_item(self, item_id: str) -> dict[str, Any]:
        item = self._get(item_id, "invoiceitem")
        if self._get(item["invoice"], "invoice")["status"] != "draft":
            raise StripeError(400, "The invoice is no longer a draft.", code="invoice_not_editable")
        return item

    @staticmethod
    def _page(url: str, found: list[dict[str, Any]], p: dict[str, Any]) -> dict[str, Any]:
        after = p.get("starting_after")
        if after:
            found = found[[o["id"] for o in found].index(after) + 1 :]
        limit = int(p.get("limit", 10))
        return {"object": "list", "url": url, "data": found[:limit], "has_more": len(found) > limit}

    def _checkout(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("mode") != "setup":
            raise StripeError(400, "Only setup mode is supported by this fake.")
        for name in ("success_url", "cancel_url", "currency"):
            _required(p, name)
        customer = self._get(_required(p, "customer"), "customer")
        intent = self._create(
            "seti",
            "setup_intent",
            {
                "customer": customer["id"],
                "status": "requires_payment_method",
                "payment_method": None,
                "usage": "off_session",
                "metadata": p.get("setup_intent_data", {}).get("metadata", {}),
            },
        )
        sid = self._id("cs_test")
        return self._store(
            {
                "id": sid,
                "object": "checkout.session",
                "mode": "setup",
                "status": "open",
                "customer": customer["id"],
                "client_reference_id": p.get("client_reference_id"),
                "currency": p["currency"],
                "metadata": p.get("metadata", {}),
                "setup_intent": intent["id"],
                "success_url": p["success_url"],
                "cancel_url": p["cancel_url"],
                "url": f"https://checkout.stripe.com/c/pay/{sid}",
                "livemode": False,
                "created": self.now(),
            }
        )

    def _create(self, prefix: str, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._store(
            {"id": self._id(prefix), "object": kind, "livemode": False, "created": self.now()}
            | fields
        )

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def _get(self, object_id: str, kind: str) -> dict[str, Any]:
        found = self.objects.get(object_id)
        if found is None or found["object"] != kind:
            raise StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing")
        return found


def _required(params: dict[str, Any], name: str) -> Any:
    if name not in params or params[name] in ("", None):
        raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing")
    return params[name]


def _error(status: int, message: str, kind: str, code: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if code:
        body["code"] = code
    return {"error": body}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, response, extra = fake.handle(self.command, self.path, headers, body)
            payload = json.dumps(response).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(8)}")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@contextmanager
def running() -> Iterator[FakeStripe]:
    """A fake Stripe listening on a loopback port until the block ends."""
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-stripe", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def event(kind: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    """A Stripe event wrapping an object, as a webhook delivers it."""
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created if created is not None else int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    at = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"
