using HotlineBench;

// ops/bench/HotlineBench: load generators for the hotline's benchmarks, and the bare baselines they
// are compared with in the same run. Run through ops/bench/*.sh, which start what is measured.
//   bare --port N --token T               a bare, signed TwiML endpoint (the voice baseline)
//   voice --app URL --bare URL --token T  IVR step webhooks: paced latency and peak throughput
return args switch
{
    ["bare", "--port", var port, "--token", var token] => await BareTwimlServer.RunAsync(int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), token),
    ["voice", "--app", var app, "--bare", var bare, "--token", var token, ..] => await VoiceBench.RunAsync(new Uri(app), new Uri(bare), token, args),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: HotlineBench bare --port N --token T | voice --app URL --bare URL --token T [--calls 200] [--seconds 20]");
    return 2;
}
