-- POST /api/v1/auth/register with a fresh email and username per request.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
local counter = 0
local run = string.format("%x", os.time() % 1048576)
math.randomseed(os.time())
local salt = string.format("%x", math.random(0, 65535))

function request()
  counter = counter + 1
  local name = string.format("r%s%s%d", run, salt, counter)
  return wrk.format("POST", "/api/v1/auth/register", { ["Content-Type"] = "application/json" },
    string.format('{"email":"%s@example.com","username":"%s","password":"bench passphrase %d"}', name, name, counter))
end
