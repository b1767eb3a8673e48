"""Receives trade updates through the official Alpaca SDK's TradingStream (alpaca-py), unchanged,
while orders go to another server over the same database.

Run by the Rust test `stream::` against two live `raptor serve` processes, or by hand:

    RAPTOR_STREAM_URL=http://127.0.0.1:8080 RAPTOR_URL=http://127.0.0.1:8081 \\
        APCA_API_KEY_ID=PK... APCA_API_SECRET_KEY=... .venv/bin/python scripts/alpaca/stream_check.py

The stream connects to RAPTOR_STREAM_URL; orders are placed through RAPTOR_URL. AAPL must have a
price and the account cash for a few shares. The SDK does not say when its subscription is in
place, so the first market order is placed again every two seconds until its updates arrive;
after that, each order's updates must arrive in order (updates of those repeats are skipped).
"""

import os
import queue
import threading
import uuid

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce, TradeEvent
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest
from alpaca.trading.stream import TradingStream

PATIENCE = 30.0


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    key, secret = os.environ["APCA_API_KEY_ID"], os.environ["APCA_API_SECRET_KEY"]
    stream_url = os.environ["RAPTOR_STREAM_URL"].rstrip("/").replace("http", "ws", 1) + "/stream"
    trading = TradingClient(key, secret, paper=True, url_override=os.environ["RAPTOR_URL"])

    updates = queue.Queue()

    async def on_update(update):
        updates.put(update)

    stream = TradingStream(key, secret, paper=True, url_override=stream_url)
    stream.subscribe_trade_updates(on_update)
    threading.Thread(target=stream.run, daemon=True).start()

    def next_update(timeout=PATIENCE):
        update = updates.get(timeout=timeout)
        expect(isinstance(update, TradeUpdate), f"not parsed as TradeUpdate: {update!r}")
        return update

    # Until the subscription is in place, orders go unheard: place one until one is heard.
    buy = MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    placed = set()
    heard = None
    for _ in range(int(PATIENCE / 2)):
        placed.add(trading.submit_order(buy).id)
        try:
            heard = next_update(timeout=2.0)
            break
        except queue.Empty:
            continue
    expect(heard is not None, "no trade update arrived within 30 s")
    expect(heard.order.id in placed, f"an update for an order not placed here: {heard.order.id}")
    expect(heard.event == TradeEvent.NEW, f"first update {heard.event}, not new")
    fill = next_update()
    expect(fill.event == TradeEvent.FILL, f"then {fill.event}, not fill")
    expect(fill.order.id == heard.order.id, "the fill is for another order")
    expect(fill.order.status == OrderStatus.FILLED, f"filled order reads {fill.order.status}")
    expect(fill.qty == 1 and fill.price and fill.price > 0, f"fill qty {fill.qty} price {fill.price}")
    expect(fill.position_qty and fill.position_qty >= 1, f"position after the fill {fill.position_qty}")
    expect(isinstance(fill.execution_id, uuid.UUID), f"execution id {fill.execution_id!r}")
    # Any repeat orders placed before the subscription took effect may follow; skip theirs.
    seen = {heard.order.id}

    def next_of(order_id):
        while True:
            update = next_update()
            if update.order.id == order_id:
                return update
            expect(update.order.id in placed and update.order.id not in seen,
                   f"unexpected update {update.event} for {update.order.id}")

    # A resting order: new, then replaced (naming the new one) and the new one's new, then canceled.
    rest = trading.submit_order(LimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=1))
    expect(next_of(rest.id).event == TradeEvent.NEW, "a resting order's first update is not new")
    moved = trading.replace_order_by_id(rest.id, ReplaceOrderRequest(limit_price=2))
    replaced = next_of(rest.id)
    expect(replaced.event == TradeEvent.REPLACED, f"the replaced order's update is {replaced.event}")
    expect(replaced.order.replaced_by == moved.id, "the replaced order does not name its replacement")
    expect(next_of(moved.id).event == TradeEvent.NEW, "the replacement's first update is not new")
    trading.cancel_order_by_id(moved.id)
    canceled = next_of(moved.id)
    expect(canceled.event == TradeEvent.CANCELED, f"a canceled order's update is {canceled.event}")
    expect(canceled.order.status == OrderStatus.CANCELED, f"it reads {canceled.order.status}")

    stream.stop()
    print(f"alpaca-py TradingStream: new, fill, replaced, canceled heard on {stream_url}")


if __name__ == "__main__":
    main()
