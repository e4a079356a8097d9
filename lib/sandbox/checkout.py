"""The sandbox's payment-link pages: ``/checkout/{session_id}`` with its card form, the 3-D Secure
challenge and the result (docs/contract.md, "Payments"). Self-contained HTML pages.

No external assets (it must work offline and in browser tests). Everything taken from a session
goes through :func:`html.escape`; the inline script only ever receives numbers. The countdown
starts from the seconds left as the server computed them, not from the browser's clock, so a
skewed client clock cannot show time the session does not have. Amounts and the countdown use
the console's own rules (``lib.fields.money``, ``lib.sessions.countdown``: time left rounds down, never up).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape

from lib.fields.money import grouped
from lib.sandbox.cards import FIELDS, IN_WORDS, SUCCESS, CardForm
from lib.sessions.countdown import format_mmss, time_left

MERCHANT = "Sandbox checkout"
EXPIRED = "This payment link has expired"
NOT_VALID = "This payment link is not valid"
PAID = "This payment link has been paid"
AUTHORISED = "This payment has been authorised"
WAITING = "This payment is waiting for your bank's 3-D Secure check"
LABELS = {"number": "Card number", "expiry": "Expiry (MM/YY)", "cvc": "CVC", "holder": "Name on card"}
_AUTOCOMPLETE = {"number": "cc-number", "expiry": "cc-exp", "cvc": "cc-csc", "holder": "cc-name"}

_STYLE = """
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}
main{max-width:26rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.1rem;margin:0 0 1.5rem;color:#374151}
dl{display:grid;grid-template-columns:auto 1fr;gap:.5rem 1rem;margin:0 0 1.5rem}
dt{color:#6b7280}dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.total{font-size:1.6rem;font-weight:600}
#link-state{margin:0;padding:.75rem;border-radius:8px;text-align:center;background:#ecfdf5;color:#065f46}
#link-state[data-state=expired],#link-state[data-state=invalid]{background:#fef2f2;color:#991b1b}
#link-state[data-state=paid],#link-state[data-state=authorised]{background:#ecfdf5;color:#065f46}
#link-state:not([data-state=active]):not([data-state=paid]):not([data-state=authorised]){background:#fef2f2;color:#991b1b}
small{display:block;margin-top:1rem;color:#9ca3af;text-align:center}
form{margin-top:1.5rem}label{display:block;margin:.75rem 0 .25rem;color:#374151}
input{box-sizing:border-box;width:100%;padding:.5rem;border:1px solid #d1d5db;border-radius:6px;font:inherit}
input[aria-invalid=true]{border-color:#dc2626}.error{margin:.25rem 0 0;color:#b91c1c;font-size:.9rem}
button{margin-top:1.25rem;width:100%;padding:.7rem;border:0;border-radius:8px;background:#111827;color:#fff;font:inherit}
button.secondary{background:#e5e7eb;color:#111827}
#notice{margin:1rem 0 0;padding:.75rem;border-radius:8px;background:#fef2f2;color:#991b1b}
"""

# Counts down from the server's figure, formatted as lib.sessions.countdown.format_mmss does; at zero the
# link state turns into the expired message.
_SCRIPT = """
(function(){
  var left=document.getElementById("time-left"), state=document.getElementById("link-state");
  var deadline=Date.now()+Number(left.dataset.msLeft);
  function pad(n){return (n<10?"0":"")+n;}
  function tick(){
    var s=Math.max(0,Math.floor((deadline-Date.now())/1000)), h=Math.floor(s/3600), m=Math.floor(s/60)%60;
    left.textContent=(h?h+":"+pad(m):pad(m))+":"+pad(s%60);
    if(s===0){state.textContent=EXPIRED_TEXT;state.dataset.state="expired";clearInterval(timer);}
  }
  var timer=setInterval(tick,1000); tick();
})();
""".replace("EXPIRED_TEXT", json.dumps(EXPIRED))


@dataclass(frozen=True)
class LinkView:
    """What the page shows of a live session (its latest version)."""

    order_id: str
    amount: Decimal | int
    currency: str
    expires_at: datetime
    now: datetime

    @property
    def left(self) -> timedelta:
        return time_left(self.expires_at, self.now)

    @property
    def ms_left(self) -> int:
        return self.left // timedelta(milliseconds=1)


def _summary(view: LinkView, *, countdown: bool = True) -> str:
    left = (f'\n  <dt>Time left</dt><dd id="time-left" data-ms-left="{view.ms_left}">{format_mmss(view.left)}</dd>'
            if countdown else "")
    return f"""
<dl>
  <dt>Order</dt><dd id="order-id">{escape(view.order_id)}</dd>
  <dt>Amount</dt><dd class="total"><span id="amount">{escape(grouped(view.amount, view.currency))}</span>
    <span id="currency">{escape(view.currency.upper())}</span></dd>{left}
</dl>"""


def render_link(view: LinkView, form: CardForm | None = None, notice: str | None = None) -> str:
    """The live payment page with its card form; ``form`` is a refused submission (shown again as
    typed, a reason at each refused field), ``notice`` a refusal of the whole payment."""
    typed = form.typed if form else {}
    problems = form.problems if form else {}
    fields = []
    for name in FIELDS:
        problem = problems.get(name)
        error = f'\n  <p class="error" id="{name}-error">{escape(problem)}</p>' if problem else ""
        described = f' aria-describedby="{name}-error"' if problem else ""
        fields.append(
            f'  <label for="{name}">{escape(LABELS[name])}</label>\n'
            f'  <input id="{name}" name="{name}" value="{escape(typed.get(name, ""))}"'
            f' autocomplete="{_AUTOCOMPLETE[name]}" aria-invalid="{"true" if problem else "false"}"'
            f'{described}>{error}')
    shown_notice = f'\n<p id="notice" role="alert">{escape(notice)}</p>' if notice else ""
    body = f"""{_summary(view)}
<p id="link-state" data-state="active">Awaiting payment</p>{shown_notice}
<form id="card-form" method="post" action="" novalidate>
{chr(10).join(fields)}
  <button type="submit" id="pay">Pay {escape(grouped(view.amount, view.currency))} {escape(view.currency.upper())}</button>
</form>
<small>Sandbox: no card is charged. Test cards: 4111 1111 1111 1111 pays; see the README for the others.</small>
<script>{_SCRIPT}</script>"""
    return _page(MERCHANT, body)


ALREADY_PAID = "This link has already taken its payment: no new payment was made and no card was charged."
STILL_WAITING = "A payment on this link is waiting for its 3-D Secure check: no new payment was made."


def render_paid(view: LinkView, captured: bool, notice: str | None = None) -> str:
    """A link whose session already took its payment (``notice``: why a new attempt was refused)."""
    message = PAID if captured else AUTHORISED
    shown_notice = f'\n<p id="notice" role="alert">{escape(notice)}</p>' if notice else ""
    return _page(MERCHANT, f'{_summary(view, countdown=False)}\n<p id="link-state" data-state="'
                           f'{"paid" if captured else "authorised"}">{escape(message)}</p>{shown_notice}')


def render_waiting(view: LinkView, challenge_path: str, notice: str | None = None) -> str:
    """A link whose payment waits for its 3-D Secure challenge."""
    shown_notice = f'\n<p id="notice" role="alert">{escape(notice)}</p>' if notice else ""
    return _page(MERCHANT, f'{_summary(view)}\n<p id="link-state" data-state="tds_pending">{escape(WAITING)}</p>'
                           f'{shown_notice}\n'
                           f'<p><a id="continue" href="{escape(challenge_path)}">Continue to your bank\'s check</a></p>'
                           f'\n<script>{_SCRIPT}</script>')


def render_challenge(view: LinkView, seconds_left: int) -> str:
    """The sandbox's stand-in for the bank's 3-D Secure challenge: approve, fail or let it time out."""
    body = f"""{_summary(view, countdown=False)}
<p id="link-state" data-state="tds_pending">Your bank asks you to confirm this payment
(it times out in <span id="tds-left">{seconds_left}</span> s)</p>
<form id="challenge" method="post" action="">
  <button type="submit" name="decision" value="approve" id="approve">Approve</button>
  <button type="submit" name="decision" value="fail" id="fail" class="secondary">Fail the check</button>
  <button type="submit" name="decision" value="timeout" id="timeout" class="secondary">Let it time out</button>
</form>
<small>Sandbox: this page stands in for the bank's 3-D Secure check.</small>"""
    return _page("3-D Secure check", body)


def render_result(view: LinkView, status: str, reason: str | None, captured: bool, retry_path: str | None) -> str:
    """What became of one payment attempt, in words; ``retry_path`` offers another card when set."""
    if status == SUCCESS:
        return render_paid(view, captured)
    words = IN_WORDS.get(reason or "") or IN_WORDS.get(status) or "The payment was not made."
    retry = f'\n<p><a id="retry" href="{escape(retry_path)}">Try another card</a></p>' if retry_path else ""
    return _page(MERCHANT, f'{_summary(view, countdown=False)}\n<p id="link-state" data-state="{escape(status)}">'
                           f'Payment not made</p>\n<p id="reason">{escape(words)}</p>{retry}')


def render_gone(message: str, state: str) -> str:
    """The page for a link that is expired (``state="expired"``) or was never valid (``"invalid"``)."""
    return _page(MERCHANT, f'<p id="link-state" data-state="{escape(state)}">{escape(message)}</p>')


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body><main><h1>{escape(title)}</h1>{body}</main></body></html>
"""
