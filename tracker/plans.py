"""The query plan of a statement, as the database would run it (nothing is executed): what the index
tests and bench/scale.py read to show that every hot query walks an index (docs/benchmarks.md)."""

from __future__ import annotations

from tracker.db import is_sqlite


async def explain(engine, statement, *, no_seqscan: bool = False) -> list[str]:
    """The plan's lines. `no_seqscan` (PostgreSQL): the plan it would choose at scale, where a small test table
    would be read whole because that is cheaper there."""
    async with engine.connect() as conn:
        compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        processors = compiled._bind_processors
        params = compiled.construct_params()
        values = []
        for name in compiled.positiontup:
            value = params[name]
            values.append(processors[name](value) if name in processors else value)
        if is_sqlite(engine):
            sql = "EXPLAIN QUERY PLAN " + compiled.string
        else:
            sql = "EXPLAIN " + compiled.string
            if no_seqscan:
                await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = (await conn.exec_driver_sql(sql, tuple(values))).all()
        await conn.rollback()
    return [row[-1] for row in rows]
