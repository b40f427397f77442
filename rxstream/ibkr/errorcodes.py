"""What the IBKR feed does about each TWS error code: a table of code → effect, and the link state it drives.

TWS reports far more than errors through its error message (``errorEvent``):
connectivity to IB lost and restored, market data farms going down and up,
requests it refused. :data:`ERROR_CODES` says which codes matter and what
each means; :class:`ErrorPolicy` keeps the state they drive (is the IB link
up, is the market data farm up) and answers each message with a
:class:`Reaction`: what the feed must do now. It holds no connection and no
clock, so every rule is unit-tested by feeding it codes.

To change how a code is handled, change its row in :data:`ERROR_CODES` (and,
for a new kind of effect, :meth:`ErrorPolicy.on_error`).

>>> policy = ErrorPolicy()
>>> policy.on_error(2104, "Market data farm connection is OK")  # the greeting at every connect
Reaction(health_changed=False, resubscribe=None, recover_fills=False, ticks_error=None)
>>> policy.on_error(2103, "Market data farm connection is broken").health_changed
True
>>> policy.reasons()
(None, '2103: market data farm disconnected')
>>> policy.on_error(2104, "Market data farm connection is OK").resubscribe
'2103->2104'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["ERROR_CODES", "Effect", "ErrorPolicy", "Reaction"]


class Effect(enum.Enum):
    """What a TWS error code means for the feed."""

    CLIENT_ID_IN_USE = "client id in use"
    """The connect attempt failed; the supervisor tries the next client id (handled while connecting)."""
    LINK_LOST = "link lost"
    """TWS lost its connection to IB: every stream is down, though the socket stays open."""
    LINK_RESTORED = "link restored"
    """TWS is connected to IB again: streams up, market data and executions requested again."""
    FARM_DOWN = "farm down"
    """A market data farm is down: the ticks stream is down; positions and fills are not affected."""
    FARM_UP = "farm up"
    """A market data farm is up: ticks up, and market data requested again if the farm had been down."""
    CONTRACT_ERROR = "contract error"
    """A market data request for one contract failed: an error on the ticks stream naming the symbol."""


ERROR_CODES: Mapping[int, Effect] = MappingProxyType(
    {
        326: Effect.CLIENT_ID_IN_USE,
        1100: Effect.LINK_LOST,
        1101: Effect.LINK_RESTORED,  # restored, market data lost
        1102: Effect.LINK_RESTORED,  # restored, data maintained (resubscribing is cheap; data is often dead)
        2103: Effect.FARM_DOWN,
        2104: Effect.FARM_UP,
        2108: Effect.FARM_UP,  # farm inactive but available on demand
        200: Effect.CONTRACT_ERROR,  # no security definition found
        300: Effect.CONTRACT_ERROR,  # can't find EId with ticker id
        354: Effect.CONTRACT_ERROR,  # requested market data is not subscribed
        10090: Effect.CONTRACT_ERROR,  # part of the requested market data is not subscribed
        10167: Effect.CONTRACT_ERROR,  # delayed market data displayed
        10168: Effect.CONTRACT_ERROR,  # delayed market data not enabled
        10186: Effect.CONTRACT_ERROR,  # requested market data is not subscribed (delayed)
        10197: Effect.CONTRACT_ERROR,  # no market data during competing live session
    }
)
"""TWS error code → what the feed does about it; codes not listed are left to the broker library's log."""


@dataclass(frozen=True, slots=True)
class Reaction:
    """What the feed must do about one error message."""

    health_changed: bool = False
    """The streams' up/down state may have changed: show :meth:`ErrorPolicy.reasons` again."""
    resubscribe: str | None = None
    """Request market data again, for this reason (``"1101"``, ``"2103->2104"``)."""
    recover_fills: bool = False
    """Request executions again: fills may have happened while IB was unreachable."""
    ticks_error: str | None = None
    """Record this error on the ticks stream."""


_NOTHING = Reaction()


class ErrorPolicy:
    """The IB link and market data farm state, driven by TWS error codes through :data:`ERROR_CODES`.

    Attributes:
        link_lost: a 1100 came and no 1101/1102 since.
        farm_down: a 2103 came and no 2104/2108 since.
    """

    def __init__(self, codes: Mapping[int, Effect] = ERROR_CODES) -> None:
        self.codes = codes
        self._link_lost: int | None = None  # the code that said so
        self._farm_down: int | None = None

    @property
    def link_lost(self) -> bool:
        return self._link_lost is not None

    @property
    def farm_down(self) -> bool:
        return self._farm_down is not None

    def __repr__(self) -> str:
        return f"ErrorPolicy(link_lost={self.link_lost}, farm_down={self.farm_down})"

    def reset(self) -> None:
        """A fresh connection: nothing is known to be lost."""
        self._link_lost = self._farm_down = None

    def on_error(self, code: int, message: str, symbol: str | None = None, *, connected: bool = True) -> Reaction:
        """The reaction to one error message; ``symbol`` names the contract it concerns, if any.

        ``connected`` is false while the socket is not (fully) up: state still
        changes, but nothing is requested from TWS.
        """
        effect = self.codes.get(code)
        if effect is Effect.LINK_LOST:
            self._link_lost = code
            return Reaction(health_changed=True)
        if effect is Effect.LINK_RESTORED:
            self._link_lost = None
            if not connected:
                return Reaction(health_changed=True)
            return Reaction(health_changed=True, resubscribe=str(code), recover_fills=True)
        if effect is Effect.FARM_DOWN:
            self._farm_down = code
            return Reaction(health_changed=True)
        if effect is Effect.FARM_UP:
            down = self._farm_down
            if down is None:  # the greeting at every connect is not a blip
                return _NOTHING
            self._farm_down = None
            return Reaction(health_changed=True, resubscribe=f"{down}->{code}" if connected else None)
        if effect is Effect.CONTRACT_ERROR and symbol is not None:
            return Reaction(health_changed=True, ticks_error=f"{code} {symbol}: {message}")
        return _NOTHING

    def reasons(self) -> tuple[str | None, str | None]:
        """Why the streams are down as far as TWS's messages tell: ``(every stream, ticks only)``."""
        link = None if self._link_lost is None else f"{self._link_lost}: connectivity between TWS and IB lost"
        farm = None if self._farm_down is None else f"{self._farm_down}: market data farm disconnected"
        return link, farm
