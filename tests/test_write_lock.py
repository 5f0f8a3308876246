"""The SQLite write lock: a push waiting for its 200 is handed the lock before every ordinary writer queued."""

import asyncio

from tracker.db import WriteLock


async def test_an_urgent_writer_goes_before_every_ordinary_writer_already_queued():
    lock, order = WriteLock(), []

    async def write(name, urgent=False):
        async with (lock.urgent() if urgent else lock):
            order.append(name)
            await asyncio.sleep(0)

    await lock.acquire()  # a drain transaction in progress
    tasks = [asyncio.create_task(write(f"drain{i}")) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(write("push", urgent=True)))
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["push", "drain0", "drain1", "drain2"]
    assert not lock.locked()


async def test_a_writer_cancelled_while_waiting_or_just_handed_the_lock_never_keeps_it():
    lock = WriteLock()
    await lock.acquire()
    waiting = asyncio.create_task(lock.acquire())
    handed = asyncio.create_task(lock.acquire(urgent=True))
    await asyncio.sleep(0)
    waiting.cancel()  # cancelled in the queue
    await asyncio.sleep(0)
    lock.release()  # handed to the urgent one ...
    handed.cancel()  # ... which is cancelled before it runs: the lock goes on, not lost
    for task in (waiting, handed):
        try:
            await task
        except asyncio.CancelledError:
            pass
    assert not lock.locked()
    await asyncio.wait_for(lock.acquire(), 1)
    assert lock.locked()
