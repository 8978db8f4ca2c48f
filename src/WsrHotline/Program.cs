using WsrHotline.Dashboard;
using WsrHotline.Database;
using WsrHotline.Demo;
using WsrHotline.Escalation;
using WsrHotline.Health;
using WsrHotline.Hosting;
using WsrHotline.Intake;
using WsrHotline.Ivr;
using WsrHotline.Jobs;
using WsrHotline.LiveConsole;
using WsrHotline.LiveEvents;
using WsrHotline.Messaging;
using WsrHotline.Pii;
using WsrHotline.Reconciliation;
using WsrHotline.Simulator;
using WsrHotline.Spool;
using WsrHotline.Staff;
using WsrHotline.Twilio;
using WsrHotline.Voice;

var builder = WebApplication.CreateBuilder(args);

builder.AddHotlineLogging();
builder.Services
    .AddSingleton(TimeProvider.System)
    .AddHotlineOptions()
    .AddHotlineTelemetry(builder.Configuration)
    .AddTwilioClient(builder.Configuration)
    .AddPiiProtection()
    .AddHotlineDatabase()
    .AddIntake()
    .AddIvrFlows()
    .AddWebhookSpool()
    .AddVoiceIntake()
    .AddMessagingIntake()
    .AddTwilioReconciliation()
    .AddStaffSignIn()
    .AddLiveEvents()
    .AddLiveConsole()
    .AddEscalation()
    .AddHotlineJobs(builder.Configuration)
    .AddDashboard()
    .AddDemoData(builder.Environment)
    .AddHotlineHealth()
    .AddVoiceSimulator(builder.Environment);

var app = builder.Build();

// `dotnet WsrHotline.dll migrate`: apply migrations and exit (for deployments that migrate as a step).
if (args is ["migrate", ..])
{
    var applied = await app.Services.GetRequiredService<MigrationRunner>().ApplyPendingAsync(CancellationToken.None);
    await JobsSchema.InstallAsync(app.Configuration.GetConnectionString("Hotline") ?? "", CancellationToken.None);
    Console.Out.WriteLine($"Applied {applied} migration(s); the database is current.");
    return;
}

// `dotnet WsrHotline.dll fallback-twiml FILE [audio-base-url]`: writes the static document for
// Twilio's Fallback URL from this configuration (emergency numbers, public address, prompts).
if (args is ["fallback-twiml", var fallbackFile, ..])
{
    var publicBase = app.Configuration["Twilio:PublicBaseUrl"] is { Length: > 0 } configured ? configured : "https://hotline.example.org";
    var audioBase = args.Length > 2 ? args[2] : publicBase.TrimEnd('/') + "/ivr-audio";
    var fallback = app.Services.GetRequiredService<EmergencyTwiml>()
        .StaticFallback(app.Services.GetRequiredService<IvrFlowProvider>().Current, publicBase, audioBase);
    await File.WriteAllTextAsync(fallbackFile, TwimlWriter.ToXml(fallback, indented: true) + Environment.NewLine);
    Console.Out.WriteLine($"Wrote {fallbackFile}: host it where Twilio can fetch it and set it as the number's Fallback URL.");
    return;
}

// `dotnet WsrHotline.dll create-admin EMAIL "Name"`: the first admin; the password is read from standard input.
if (args is ["create-admin", var adminEmail, var adminName, ..])
{
    await app.Services.GetRequiredService<MigrationRunner>().ApplyPendingAsync(CancellationToken.None);
    Environment.ExitCode = await CreateAdminCommand.RunAsync(
        app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), adminEmail, adminName, Console.In, Console.Out);
    return;
}

app.UseForwardedHeaders();
app.UseStaticFiles();
app.UseStaffSignIn();
app.MapHotlineHealth();
app.MapIvrAudio();
app.MapVoiceIntake();
app.MapMessagingIntake();
app.MapStaffSignIn();
app.MapStaffAdmin();
app.MapLiveEvents();
app.MapLiveConsole();
app.MapEscalation();
app.MapJobsDashboard();
app.MapDashboardApi();
app.MapVoiceSimulator();
app.MapGet("/", () => Results.Text("WSR Hotline is running. Readiness: /health/ready\n"));

await app.RunAsync();

/// <summary>The application's entry point; public so that tests can host it.</summary>
public partial class Program;
