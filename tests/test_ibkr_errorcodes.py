"""The TWS error-code policy, unit by unit: the table, and the link state it drives (no socket, no clock)."""

from __future__ import annotations

import pytest

from rxstream.ibkr.errorcodes import ERROR_CODES, Effect, ErrorPolicy, Reaction

NOTHING = Reaction()


@pytest.mark.parametrize(
    ("code", "effect"),
    [
        (326, Effect.CLIENT_ID_IN_USE),
        (1100, Effect.LINK_LOST),
        (1101, Effect.LINK_RESTORED),
        (1102, Effect.LINK_RESTORED),
        (2103, Effect.FARM_DOWN),
        (2104, Effect.FARM_UP),
        (2108, Effect.FARM_UP),
        (200, Effect.CONTRACT_ERROR),
        (354, Effect.CONTRACT_ERROR),
        (10167, Effect.CONTRACT_ERROR),
    ],
)
def test_the_table(code: int, effect: Effect) -> None:
    assert ERROR_CODES[code] is effect


@pytest.mark.parametrize("code", [2106, 2158, 399, 202, 0])
def test_codes_not_in_the_table_change_nothing(code: int) -> None:
    policy = ErrorPolicy()
    assert code not in ERROR_CODES
    assert policy.on_error(code, "whatever", "EURUSD") == NOTHING
    assert policy.reasons() == (None, None)


def test_the_farm_greeting_at_connect_is_not_a_blip() -> None:
    policy = ErrorPolicy()
    for code in (2104, 2108, 2104):
        assert policy.on_error(code, "Market data farm connection is OK:usfarm") == NOTHING


@pytest.mark.parametrize("up", [2104, 2108])
def test_farm_blip_downs_ticks_then_resubscribes(up: int) -> None:
    policy = ErrorPolicy()
    assert policy.on_error(2103, "Market data farm connection is broken:usfarm") == Reaction(health_changed=True)
    assert policy.farm_down and policy.reasons() == (None, "2103: market data farm disconnected")
    assert policy.on_error(up, "OK") == Reaction(health_changed=True, resubscribe=f"2103->{up}")
    assert not policy.farm_down and policy.reasons() == (None, None)
    assert policy.on_error(up, "OK") == NOTHING  # once is enough


@pytest.mark.parametrize("restored", [1101, 1102])
def test_link_lost_downs_everything_and_restored_resubscribes_and_recovers_fills(restored: int) -> None:
    policy = ErrorPolicy()
    assert policy.on_error(1100, "Connectivity between IB and TWS has been lost.") == Reaction(health_changed=True)
    assert policy.link_lost and policy.reasons() == ("1100: connectivity between TWS and IB lost", None)
    assert policy.on_error(restored, "Connectivity restored") == Reaction(
        health_changed=True, resubscribe=str(restored), recover_fills=True
    )
    assert policy.reasons() == (None, None)


def test_while_not_connected_state_changes_but_nothing_is_requested() -> None:
    policy = ErrorPolicy()
    policy.on_error(1100, "lost", connected=False)
    policy.on_error(2103, "farm down", connected=False)
    assert policy.on_error(1101, "restored", connected=False) == Reaction(health_changed=True)
    assert policy.on_error(2104, "farm ok", connected=False) == Reaction(health_changed=True)
    assert policy.reasons() == (None, None)


def test_link_and_farm_are_independent() -> None:
    policy = ErrorPolicy()
    policy.on_error(2103, "farm down")
    policy.on_error(1100, "lost")
    assert policy.reasons() == ("1100: connectivity between TWS and IB lost", "2103: market data farm disconnected")
    policy.on_error(1102, "restored")
    assert policy.reasons() == (None, "2103: market data farm disconnected")


def test_a_contract_error_is_a_ticks_error_naming_the_symbol() -> None:
    policy = ErrorPolicy()
    reaction = policy.on_error(354, "Requested market data is not subscribed.", "AAPL")
    assert reaction == Reaction(health_changed=True, ticks_error="354 AAPL: Requested market data is not subscribed.")
    assert policy.on_error(354, "no contract given") == NOTHING
    assert policy.reasons() == (None, None)


def test_client_id_in_use_is_the_supervisors_business() -> None:
    assert ErrorPolicy().on_error(326, "client id is already in use") == NOTHING


def test_reset_forgets_what_the_last_connection_lost() -> None:
    policy = ErrorPolicy()
    policy.on_error(1100, "lost")
    policy.on_error(2103, "farm down")
    policy.reset()
    assert (policy.link_lost, policy.farm_down, policy.reasons()) == (False, False, (None, None))
    assert policy.on_error(2104, "farm ok") == NOTHING


def test_the_table_is_the_policy() -> None:
    policy = ErrorPolicy({2110: Effect.FARM_DOWN, 2104: Effect.FARM_UP})
    policy.on_error(2110, "connectivity between TWS and server is broken")
    assert policy.reasons() == (None, "2110: market data farm disconnected")
    assert policy.on_error(2104, "ok").resubscribe == "2110->2104"
    assert policy.on_error(1100, "lost") == NOTHING  # not in this table
