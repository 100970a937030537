"""A Faust stream whose ``take_events`` takes a batch straight off its channel's queue.

Faust's ``Stream.take_events`` adds a processor to the stream and drains the stream in a task
of its own: every record goes through the stream's iterator one at a time (a pass through the
event loop each, ``asyncio.sleep(0)``, the processor awaited, the sensors called on the way in
and out) into a buffer the batch is then yielded from, and every event is acknowledged after
the batch. On the worker's backlog that path took about a tenth of its CPU (issue 19).

:class:`BatchStream` does for a batch what that iterator does for each of its records, in one
loop: it takes up to ``max_`` events from the queue the conductor fills, waiting at most
``within`` seconds for the first ones; for each event, as Faust's iterator does, it skips (and
acknowledges) a record of an earlier consumer generation or taken while flow control is
suspended (a rebalance), tracks the message as unacknowledged for the consumer's commit
(``consumer.unacked``, the sensors' ``on_message_in``), and tells the sensors the stream took it.
After the batch it acknowledges every event through ``Stream.ack``, as Faust's ``take_events``
does. Group membership, offsets and commits, flow control, tables and their recovery stay
Faust's: only the way the records get from the queue to the agent is shorter.

The stream's processors run on each event's value as Faust's iterator runs them (in order, each
on the one before's result, awaited when it returns an awaitable, with the event as the
stream's current event); one raising ``Skip`` drops the event, which is acknowledged. Every
agent's stream has one: Faust adds ``Agent._maybe_unwrap_reply_request`` to the stream of an
agent that yields, so a stream with processors cannot take Faust's path, or no worker would ever
take this one. A stream that joins others, or over something other than a channel, takes
Faust's own path.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Coroutine, Sequence
from inspect import isawaitable
from typing import Any

import faust
from faust.exceptions import Skip
from faust.streams import _current_event
from faust.types import ChannelT, EventT
from mode.utils.futures import maybe_async
from mode.utils.times import Seconds, want_seconds


class BatchStream(faust.Stream):  # type: ignore[type-arg]  # Faust's Stream is generic
    def take_events(self, max_: int, within: Seconds,
                    ) -> AsyncGenerator[Sequence[EventT[Any]], None]:
        if self.join_strategy is not None or not isinstance(self.channel, ChannelT):
            return super().take_events(max_, within)
        batches = self._take_batches(max_, want_seconds(within))
        self._active_agens.add(batches)  # closed with the stream, as Faust's own
        return batches

    async def _take_batches(self, max_: int, within: float,
                            ) -> AsyncGenerator[Sequence[EventT[Any]], None]:
        self._finalized = True
        started_here = await self.maybe_start()
        queue = self.channel.queue  # type: ignore[attr-defined]
        app, loop = self.app, asyncio.get_running_loop()
        consumer = app.consumer
        flow = app.flow_control
        acking_topics = app.topics.acking_topics
        add_unacked = consumer.unacked.add
        on_message_in, on_event_in = self._on_message_in, self._on_stream_event_in
        processors = self._processors
        events: list[EventT[Any]] = []
        try:
            while not self.should_stop:
                deadline = loop.time() + within
                while len(events) < max_:
                    if queue.empty():
                        left = deadline - loop.time()
                        if left <= 0:
                            break
                        try:
                            item = await asyncio.wait_for(queue.get(), left)
                        except TimeoutError:
                            break
                    else:
                        item = queue.get_nowait()
                    event: EventT[Any] = item
                    message = event.message
                    if (not flow.is_active()
                            or message.generation_id != app.consumer_generation_id):
                        await self.ack(event)  # an earlier generation's: dropped, as Faust
                        continue
                    tp, offset = message.tp, message.offset
                    if message.topic in acking_topics and not message.tracked:
                        message.tracked = True
                        add_unacked(message)
                        on_message_in(tp, offset, message)
                    on_event_in(tp, offset, self, event)
                    if processors:
                        kept = self._processed(event)
                        if not isinstance(kept, bool):
                            kept = await kept  # a processor returned an awaitable
                        if not kept:
                            await self.ack(event)  # a processor skipped it: dropped, as Faust
                            continue
                    events.append(event)
                if not events:
                    continue
                self.events_total += len(events)
                try:
                    yield list(events)
                finally:
                    for event in events:
                        await self.ack(event)
                    events.clear()
        finally:
            self._channel_stop_iteration(self.channel)
            if started_here:
                await self.stop()
                self.service_reset()

    def _processed(self, event: EventT[Any]) -> bool | Coroutine[Any, Any, bool]:
        """Run the stream's processors on ``event``'s value, as Faust's iterator does before
        its ``take_events`` buffers the event (whose values the batch does not carry: only
        the processors' effects count). ``False``: one raised ``Skip``. Called, not awaited,
        while the processors return plain values (Faust's own, on every agent's stream, does):
        two coroutines an event were 0.4-0.7 us of the worker's CPU (issue 19); from the
        first processor that returns an awaitable on, the rest run in a coroutine."""
        self.current_event = event
        _current_event.set(weakref.ref(event))
        value = event.value
        awaiting = False
        try:
            for at, processor in enumerate(self._processors):
                value = processor(value)
                if isawaitable(value):
                    awaiting = True
                    return self._processed_after(value, at + 1)
        except Skip:
            return False
        finally:
            if not awaiting:
                self.current_event = None
        return True

    async def _processed_after(self, pending: Awaitable[Any], start: int) -> bool:
        """:meth:`_processed` from a processor's awaitable result on."""
        try:
            value = await pending
            for processor in self._processors[start:]:
                value = await maybe_async(processor(value))
        except Skip:
            return False
        finally:
            self.current_event = None
        return True
