"""The sandbox's payment-link page ``/checkout/{session_id}``: one self-contained HTML page.

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

from lib.sessions.countdown import format_mmss, time_left
from lib.fields.money import grouped

MERCHANT = "Sandbox checkout"
EXPIRED = "This payment link has expired"
NOT_VALID = "This payment link is not valid"

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
small{display:block;margin-top:1rem;color:#9ca3af;text-align:center}
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


def render_link(view: LinkView) -> str:
    """The live payment page."""
    body = f"""
<dl>
  <dt>Order</dt><dd id="order-id">{escape(view.order_id)}</dd>
  <dt>Amount</dt><dd class="total"><span id="amount">{escape(grouped(view.amount, view.currency))}</span>
    <span id="currency">{escape(view.currency.upper())}</span></dd>
  <dt>Time left</dt><dd id="time-left" data-ms-left="{view.ms_left}">{format_mmss(view.left)}</dd>
</dl>
<p id="link-state" data-state="active">Awaiting payment</p>
<small>Sandbox: no card is charged.</small>
<script>{_SCRIPT}</script>"""
    return _page(MERCHANT, body)


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
