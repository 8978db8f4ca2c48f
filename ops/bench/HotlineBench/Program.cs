using HotlineBench;

// ops/bench/HotlineBench: load generators for the hotline's benchmarks, and the bare baselines they
// are compared with in the same run. Run through ops/bench/*.sh, which start what is measured.
//   bare --port N --token T               a bare, signed TwiML endpoint (the voice baseline)
//   voice --app URL --bare URL --token T  IVR step webhooks: paced latency and peak throughput
//   messaging --app URL --token T --db CS inbound SMS webhooks, open loop at increasing rates, the inbox's processing rate, beside pgbench
//   console --app URL --token T --db CS   live-event latency at N signed-in consoles, beside a bare NOTIFY round trip
return args switch
{
    ["bare", "--port", var port, "--token", var token] => await BareTwimlServer.RunAsync(int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), token),
    ["voice", "--app", var app, "--bare", var bare, "--token", var token, ..] => await VoiceBench.RunAsync(new Uri(app), new Uri(bare), token, args),
    ["messaging", "--app", var app, "--token", var token, "--db", _, ..] => await MessagingBench.RunAsync(new Uri(app), token, args),
    ["console", "--app", var app, "--token", var token, "--db", var database, ..] => await ConsoleBench.RunAsync(new Uri(app), token, database, args),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: HotlineBench bare --port N --token T | voice --app URL --bare URL --token T [--calls 200] [--seconds 20]\n" +
        "     | messaging --app URL --token T --db CONNECTION [--rates 250,500,1000,2000] [--seconds 10] [--warm-up 10] [--pgbench PATH --pg-port N --pg-database DB]\n" +
        "         [--wrk PATH --wrk-script LUA] [--connections 64] [--saturation-seconds N] [--attempts 3]\n" +
        "     | console --app URL --token T --db CONNECTION [--connections 200] [--staff 10] [--rate 20] [--seconds 30] [--burst 100]");
    return 2;
}
