"""Living base data (DESIGN.md §3): keyed changes to buildings, facilities and areas in batches, with history.

`batches` opens and closes a batch; `keyed` writes rows by key (upsert, replace, update, insert); `carry` carries
every plan and the coverage figures through what was written; `undo` reverts a batch; `changes` sets one building's
values (an approved field visit); `visits` turns grid workers' home visits into pending changes. The versions
themselves are written by database triggers (migration 0008).
"""
