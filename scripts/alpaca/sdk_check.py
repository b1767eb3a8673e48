"""Drives a Raxx paper account through the official Alpaca SDK (alpaca-py), unchanged.

Run by the Rust test `alpaca_sdk::` against a live Raptor, or by hand:

    RAPTOR_URL=http://127.0.0.1:8080 APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=... \\
        .venv/bin/python scripts/alpaca/sdk_check.py

The account must be fresh (100000 USD, nothing held) and AAPL and MSFT priced at
RAPTOR_AAPL_PRICE and RAPTOR_MSFT_PRICE. Every step checks what a bot would rely on; the first
surprise stops the run with a message naming it.
"""

import datetime as dt
import os
import sys
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockLatestBarRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.models import NonTradeActivity, TradeActivity
from alpaca.trading.enums import (
    AccountStatus,
    AssetClass,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    ClosePositionRequest,
    CreateWatchlistRequest,
    GetPortfolioHistoryRequest,
    ReplaceOrderRequest,
    UpdateWatchlistRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def refused(call, status, what):
    try:
        call()
    except APIError as err:
        expect(err.status_code == status, f"{what}: status {err.status_code}, not {status}: {err}")
        expect(err.code == status * 100000 + 10000, f"{what}: code {err.code}")
        expect(err.message, f"{what}: no message")
        return
    raise AssertionError(f"{what}: was not refused")


def main():
    aapl = Decimal(os.environ["RAPTOR_AAPL_PRICE"])
    msft = Decimal(os.environ["RAPTOR_MSFT_PRICE"])
    client = TradingClient(
        os.environ["APCA_API_KEY_ID"],
        os.environ["APCA_API_SECRET_KEY"],
        paper=True,
        url_override=os.environ["RAPTOR_URL"],
    )

    data = StockHistoricalDataClient(
        os.environ["APCA_API_KEY_ID"],
        os.environ["APCA_API_SECRET_KEY"],
        url_override=os.environ["RAPTOR_URL"],
    )
    now = dt.datetime.now(dt.timezone.utc)
    bars = data.get_stock_bars(StockBarsRequest(
        symbol_or_symbols=["MSFT", "AAPL"], timeframe=TimeFrame.Minute,
        start=now - dt.timedelta(hours=1), end=now))
    expect(set(bars.data) == {"AAPL", "MSFT"}, f"bars of {set(bars.data)}")
    expect(Decimal(str(bars["AAPL"][-1].close)) == aapl, f"AAPL closed at {bars['AAPL'][-1].close}")
    latest = data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols=["AAPL", "MSFT"]))
    expect(Decimal(str(latest["MSFT"].close)) == msft, f"MSFT's latest close {latest['MSFT'].close}")

    account = client.get_account()
    expect(account.status == AccountStatus.ACTIVE, f"account status {account.status}")
    expect(Decimal(account.cash) == 100000, f"cash {account.cash}")
    expect(not account.trading_blocked, "trading blocked")

    settings = client.get_account_configurations()
    settings.suspend_trade = True
    expect(client.set_account_configurations(settings).suspend_trade, "suspend_trade")
    refused(lambda: client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)),
        403, "an order while trading is suspended")
    settings.suspend_trade = False
    expect(not client.set_account_configurations(settings).suspend_trade, "trading resumed")

    clock = client.get_clock()
    expect(clock.next_open > clock.timestamp, "the next open is in the past")
    expect(clock.next_close > clock.timestamp, "the next close is in the past")
    days = client.get_calendar(
        GetCalendarRequest(start=dt.date(2026, 11, 25), end=dt.date(2026, 11, 30))
    )
    expect([d.date.isoformat() for d in days] == ["2026-11-25", "2026-11-27", "2026-11-30"],
           f"calendar days {[d.date for d in days]}")
    expect(days[1].close.hour == 13, "the day after Thanksgiving closes at 13:00")

    assets = client.get_all_assets(GetAssetsRequest(asset_class=AssetClass.US_EQUITY))
    expect(any(a.symbol == "AAPL" for a in assets), "AAPL is not an asset")
    apple = client.get_asset("AAPL")
    expect(client.get_asset(apple.id).symbol == "AAPL", "the asset by id is not AAPL")

    watchlist = client.create_watchlist(CreateWatchlistRequest(name="sdk", symbols=["AAPL", "MSFT"]))
    expect([a.symbol for a in watchlist.assets] == ["AAPL", "MSFT"], "watchlist symbols")
    watchlist = client.add_asset_to_watchlist_by_id(watchlist.id, "SPY")
    watchlist = client.remove_asset_from_watchlist_by_id(watchlist.id, "AAPL")
    expect([a.symbol for a in watchlist.assets] == ["MSFT", "SPY"], "watchlist after changes")
    watchlist = client.update_watchlist_by_id(watchlist.id, UpdateWatchlistRequest(name="sdk 2"))
    expect(client.get_watchlist_by_id(watchlist.id).name == "sdk 2", "renamed watchlist")
    expect([w.name for w in client.get_watchlists()] == ["sdk 2"], "the watchlists")
    client.delete_watchlist_by_id(watchlist.id)
    expect(client.get_watchlists() == [], "a deleted watchlist is listed")

    bought = client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id="sdk-market-1"))
    expect(bought.status == OrderStatus.FILLED, f"market buy {bought.status}")
    expect(Decimal(bought.filled_avg_price) == aapl, f"filled at {bought.filled_avg_price}")
    expect(client.get_order_by_id(bought.id).id == bought.id, "order by id")
    expect(client.get_order_by_client_id("sdk-market-1").id == bought.id, "order by client id")
    again = client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id="sdk-market-1"))
    expect(again.id == bought.id, "a repeated client order id placed a second order")

    notional = client.submit_order(MarketOrderRequest(
        symbol="MSFT", notional=100, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    expect(notional.status == OrderStatus.FILLED, f"notional buy {notional.status}")
    expect(Decimal(notional.notional) == 100, f"notional {notional.notional}")

    resting = client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=float(aapl / 2)))
    expect(resting.status == OrderStatus.NEW, f"a limit far below rests, not {resting.status}")
    stop = client.submit_order(StopOrderRequest(
        symbol="AAPL", qty=2, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        stop_price=float(aapl * Decimal("0.9"))))
    expect(stop.status == OrderStatus.NEW and stop.order_type == OrderType.STOP, "stop order")
    stop_limit = client.submit_order(StopLimitOrderRequest(
        symbol="AAPL", qty=2, side=OrderSide.SELL, time_in_force=TimeInForce.DAY,
        stop_price=float(aapl * Decimal("0.8")), limit_price=float(aapl * Decimal("0.79"))))
    expect(stop_limit.status == OrderStatus.NEW, f"stop-limit {stop_limit.status}")
    ioc = client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.IOC,
        limit_price=float(aapl / 2)))
    expect(ioc.status == OrderStatus.CANCELED, f"an IOC that cannot fill is {ioc.status}")
    fok = client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.FOK,
        limit_price=float(aapl * 2)))
    expect(fok.status == OrderStatus.FILLED, f"a marketable FOK is {fok.status}")

    open_orders = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    expect({o.id for o in open_orders} == {resting.id, stop.id, stop_limit.id},
           f"open orders {[o.id for o in open_orders]}")
    sells = client.get_orders(GetOrdersRequest(
        status=QueryOrderStatus.ALL, side=OrderSide.SELL, symbols=["AAPL"], nested=True))
    expect({o.id for o in sells} == {stop.id, stop_limit.id}, "sell orders")
    later = client.get_orders(GetOrdersRequest(
        status=QueryOrderStatus.ALL, after=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)))
    expect(later == [], "orders after an hour from now")

    moved = client.replace_order_by_id(resting.id, ReplaceOrderRequest(
        qty=2, limit_price=round(float(aapl / 3), 2)))
    expect(moved.replaces == resting.id and Decimal(moved.qty) == 2, "replace")
    expect(client.get_order_by_id(resting.id).status == OrderStatus.REPLACED, "the old order")
    resting = moved
    client.cancel_order_by_id(resting.id)
    expect(client.get_order_by_id(resting.id).status == OrderStatus.CANCELED, "cancel one")
    refused(lambda: client.cancel_order_by_id(resting.id), 422, "canceling it again")
    canceled = client.cancel_orders()
    expect({c.id for c in canceled} == {stop.id, stop_limit.id}, "cancel all")
    expect(client.get_orders() == [], "orders left open")

    # Order classes and trailing stops. No bar arrives during this check, so what rests stays.
    bracket = client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=float(aapl / 2), order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=float(aapl)),
        stop_loss=StopLossRequest(stop_price=float(aapl / 4), limit_price=float(aapl / 5))))
    expect(bracket.order_class == OrderClass.BRACKET and len(bracket.legs or []) == 2,
           f"bracket legs {bracket.legs}")
    expect({leg.status for leg in bracket.legs} == {OrderStatus.HELD}, "a bracket's exits wait")
    expect({leg.order_type for leg in bracket.legs} == {OrderType.LIMIT, OrderType.STOP_LIMIT},
           "a bracket's exit types")
    oto = client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        order_class=OrderClass.OTO, stop_loss=StopLossRequest(stop_price=float(aapl / 2))))
    expect(oto.status == OrderStatus.FILLED and oto.legs[0].status == OrderStatus.NEW,
           "an OTO entry that fills at once starts its exit at once")
    oco = client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=2, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OCO, take_profit=TakeProfitRequest(limit_price=float(aapl * 2)),
        stop_loss=StopLossRequest(stop_price=float(aapl / 2))))
    expect(oco.order_class == OrderClass.OCO and Decimal(oco.limit_price) == aapl * 2,
           f"an OCO's limit is its take profit: {oco.limit_price}")
    expect(oco.legs[0].status == OrderStatus.NEW, "both OCO exits work at once")
    trailing = client.submit_order(TrailingStopOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, trail_percent=5))
    expect(trailing.order_type == OrderType.TRAILING_STOP and Decimal(trailing.hwm) == aapl,
           f"a trailing stop starts from the price now: {trailing.hwm}")
    expect(Decimal(trailing.stop_price) == (aapl * Decimal("0.95")).quantize(
        Decimal("0.0001"), rounding=ROUND_FLOOR), f"its stop {trailing.stop_price}")
    trailing = client.replace_order_by_id(trailing.id, ReplaceOrderRequest(trail=10))
    expect(Decimal(trailing.trail_percent) == 10, "a replaced trail")
    nested = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True))
    expect({o.id for o in nested} == {bracket.id, oco.id, trailing.id, oto.legs[0].id},
           f"open orders, nested {[(o.id, o.order_class) for o in nested]}")
    canceled = client.cancel_orders()
    expect(len(canceled) == 7, f"cancel all lists every order it ended, legs too: {len(canceled)}")
    expect(client.get_orders() == [], "orders of a group left open")

    # Auction orders wait for their auction, and are refused once it stops taking them (from
    # 2 minutes before the open, or 10 before the close, until 19:00 New York time).
    here = dt.datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None)
    today = client.get_calendar(GetCalendarRequest(start=here.date(), end=here.date()))
    evening = here.replace(hour=19, minute=0, second=0, microsecond=0)
    cutoffs = {TimeInForce.OPG: lambda d: d.open - dt.timedelta(minutes=2),
               TimeInForce.CLS: lambda d: d.close - dt.timedelta(minutes=10)}
    for tif, cutoff in cutoffs.items():
        request = LimitOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=tif,
                                    limit_price=float(aapl / 2))
        if today and cutoff(today[0]) <= here < evening:
            refused(lambda: client.submit_order(request), 422, f"a {tif} order past its cutoff")
            continue
        auction = client.submit_order(request)
        expect(auction.status == OrderStatus.NEW and auction.time_in_force == tif,
               f"a {tif} order waits for its auction: {auction.status}")
        client.cancel_order_by_id(auction.id)
    extended = client.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        limit_price=float(aapl / 2), extended_hours=True))
    expect(extended.extended_hours and extended.status == OrderStatus.NEW, "an extended-hours order")
    client.cancel_order_by_id(extended.id)
    client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY))

    positions = {p.symbol: p for p in client.get_all_positions()}
    expect(set(positions) == {"AAPL", "MSFT"}, f"positions {set(positions)}")
    expect(Decimal(positions["AAPL"].qty) == 11, f"AAPL held {positions['AAPL'].qty}")
    expect(Decimal(client.get_open_position("MSFT").market_value) == 100, "MSFT worth 100")
    expect(client.get_open_position(apple.id).symbol == "AAPL", "position by asset id")
    part = client.close_position("AAPL", ClosePositionRequest(qty="1"))
    expect(Decimal(part.qty) == 1 and part.side == OrderSide.SELL, "close 1 share")
    half = client.close_position("AAPL", ClosePositionRequest(percentage="50"))
    expect(Decimal(half.qty) == 5, f"closing 50% of 10 sold {half.qty}")

    history = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1W", timeframe="1D"))
    expect(history.timeframe == "1D" and len(history.equity) == len(history.timestamp),
           f"portfolio history {history}")
    expect(history.base_value == 100000, f"base value {history.base_value}")

    # alpaca-py 0.44 has no activities method on TradingClient: its own REST call and models.
    fills = [TradeActivity(**a) for a in client.get("/account/activities", {"activity_types": "FILL"})]
    expect(len(fills) == 7 and fills[0].symbol == "AAPL", f"fills {[(f.symbol, f.qty) for f in fills]}")
    deposits = [NonTradeActivity(**a) for a in client.get("/account/activities/CSD")]
    expect(len(deposits) == 1 and deposits[0].net_amount == 100000, "the opening deposit")

    refused(lambda: client.submit_order(MarketOrderRequest(
        symbol="NOPE", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)),
        422, "an unlisted symbol")
    refused(lambda: client.submit_order(MarketOrderRequest(
        symbol="AAPL", qty=1_000_000, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)),
        403, "more than the buying power")
    refused(lambda: client.get_open_position("GOOGL"), 404, "a position not held")

    closed = client.close_all_positions(cancel_orders=True)
    expect({c.symbol for c in closed} == {"AAPL", "MSFT"}, "close all")
    expect(all(c.status == 200 for c in closed), "every close was placed")
    expect(client.get_all_positions() == [], "positions left")
    final = client.get_account()
    expect(Decimal(final.equity) == Decimal(final.cash), "equity is cash once nothing is held")
    print("alpaca-py drove the account through", len(client.get_orders(
        GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))), "orders")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print(f"alpaca-py check failed: {err}", file=sys.stderr)
        sys.exit(1)
