-- Reads the revocation feed.
-- KEYS[1]  the feed stream tessera:revocations
-- ARGV[1]  'after': the events after the cursor ARGV[2];
--          'window': the events of the last ARGV[4] ms (a snapshot's first page);
--          'from': the events after the cursor ARGV[2] whether or not
--          older ones were trimmed (a snapshot's next page: what was
--          trimmed meanwhile had left the window anyway);
--          'tail': no events, only the cursor of the newest
-- ARGV[2]  cursor, a stream entry id ('after' and 'from')
-- ARGV[3]  most events returned (0 = all)
-- ARGV[4]  retention ms (the window)
-- Returns {'gap'} when events after the cursor may have been trimmed away
-- (entries were trimmed, and the cursor is older than the first entry kept,
-- or than the last one generated when none is kept) or the cursor is beyond
-- the newest id ever generated (the stream was lost and began anew);
-- otherwise {next, events}: events as XRANGE answers them, and next the
-- cursor to read on from: the last event's id when the page is full, else
-- the newest id ever generated, so a quiet feed's cursor never falls behind
-- the trim point.
-- Read-only and atomic: the trim state and the page are one moment's.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
-- Trimming removes from the head only (nothing here deletes an entry by
-- id), so every entry before the first kept one is gone.
local last, first, added, length = '0-0', '0-0', 0, 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      last = info[i + 1]
    elseif info[i] == 'recorded-first-entry-id' then
      first = info[i + 1]
    elseif info[i] == 'entries-added' then
      added = info[i + 1]
    elseif info[i] == 'length' then
      length = info[i + 1]
    end
  end
end
local function trimmed_after(cursor)
  if added <= length then
    return false
  end
  if length == 0 then
    return less(cursor, last)
  end
  return less(cursor, first)
end
local count = tonumber(ARGV[3])
local function range(start)
  if count > 0 then
    return redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', count)
  end
  return redis.call('XRANGE', KEYS[1], start, '+')
end
local events = {}
if ARGV[1] == 'after' then
  if trimmed_after(ARGV[2]) or less(last, ARGV[2]) then
    return {'gap'}
  end
  events = range('(' .. ARGV[2])
elseif ARGV[1] == 'from' then
  events = range('(' .. ARGV[2])
elseif ARGV[1] == 'window' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  events = range(string.format('%d', math.max(now - tonumber(ARGV[4]), 0)))
end
local next = last
if count > 0 and #events == count then
  next = events[#events][1]
end
return {next, events}
