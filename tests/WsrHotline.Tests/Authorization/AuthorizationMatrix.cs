namespace WsrHotline.Tests.Authorization;

/// <summary>
/// What every endpoint answers to every kind of caller: one row per endpoint (method and route
/// pattern as the app maps them), one column per caller. <see cref="AuthorizationMatrixTests"/> calls
/// each endpoint as each caller and compares; an endpoint without a row fails, and so does a row
/// whose answer changed. <b>Adding an endpoint: add its row here</b> (the test's failure message
/// prints the row it measured, ready to paste once you have checked it is what you mean).
/// <para>
/// Callers: <c>Anonymous</c> (no cookie); <c>North</c>, the investigator of team north;
/// <c>South</c>, an investigator of team south (same language); <c>Coordinator</c>; <c>Admin</c>;
/// <c>Buyer</c>, no cookie but the valid answer-link token (<c>?token=…</c>) of the buyer escalation.
/// Route values are real rows: <c>{id}</c> of a complaint is a case restricted to team north (so
/// South gets 403 where North gets 200), of a medium a stored photo of that case, of a buyer
/// escalation that case's escalation, of staff the south investigator. POSTs carry <c>{}</c> as JSON
/// and, for staff, the antiforgery header. An answer is the status code; a redirect adds where to
/// (302 /signin: sign in first; 302 /signin/denied: the role may not).
/// </para>
/// </summary>
public static class AuthorizationMatrix
{
    /// <summary>A page's answer to a caller who is not signed in: the cookie's redirect to the sign-in page.</summary>
    public const string SignIn = "302 /signin?ReturnUrl";

    /// <summary>A page's answer to a role that may not open it.</summary>
    public const string Denied = "302 /signin/denied?ReturnUrl";

    public sealed record Row(string Anonymous, string North, string South, string Coordinator, string Admin, string Buyer);

    public static readonly Dictionary<string, Row> Expected = new(StringComparer.Ordinal)
    {
        // ["METHOD /pattern"] = new(Anonymous, North, South, Coordinator, Admin, Buyer),
        // Public: health, the root, IVR audio, sign-in.
        ["ANY /health/live"] = new("200", "200", "200", "200", "200", "200"),
        ["ANY /health/ready"] = new("200", "200", "200", "200", "200", "200"),
        ["GET /"] = new("200", "200", "200", "200", "200", "200"),
        ["GET /ivr-audio/{**path}"] = new("404", "404", "404", "404", "404", "404"),
        ["GET /signin"] = new("200", "200", "200", "200", "200", "200"),
        ["GET /signin/denied"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /signin"] = new("415", "415", "415", "415", "415", "415"),
        ["POST /signout"] = new(SignIn, "302 /signin", "302 /signin", "302 /signin", "302 /signin", SignIn),
        // Pages of staff (cookie: a redirect to sign in, or to "denied" for the wrong role).
        ["GET /admin/"] = new(SignIn, Denied, Denied, Denied, "200", SignIn),
        ["GET /console"] = new(SignIn, "200", "200", "200", "200", SignIn),
        ["GET /dashboard"] = new(SignIn, Denied, Denied, "200", "200", SignIn),
        ["POST /admin/staff/{id:int}/unlock"] = new(SignIn, Denied, Denied, Denied, "302 /admin", SignIn),
        // Hangfire's dashboard (its pages, scripts and stats polls, one catch-all endpoint): admins only.
        ["ANY /hangfire/{**path}"] = new(SignIn, Denied, Denied, Denied, "200", SignIn),
        // The console's API (programs get 401/403); {id} is a case restricted to team north.
        // The active call: only the investigator on it or a coordinator (this call has nobody on it and no conference yet).
        ["GET /console/api/calls/active"] = new("401", "204", "204", "204", "204", "401"),
        ["POST /console/api/calls/{callId:long}/hangup"] = new("401", "403", "403", "409", "409", "401"),
        ["POST /console/api/calls/{callId:long}/hold"] = new("401", "403", "403", "409", "409", "401"),
        ["POST /console/api/calls/{callId:long}/interpreter"] = new("401", "400", "400", "400", "400", "401"),
        ["POST /console/api/calls/{callId:long}/monitor"] = new("401", "403", "403", "409", "409", "401"),
        ["POST /console/api/calls/{callId:long}/mute"] = new("401", "403", "403", "409", "409", "401"),
        ["POST /console/api/calls/{callId:long}/transfer"] = new("401", "409", "409", "409", "409", "401"),
        ["POST /console/api/calls/{callId:long}/wrap-up"] = new("401", "403", "403", "403", "403", "401"),
        ["GET /console/api/interpreters"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/canned/{language}"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/complaints"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/complaints/{id:long}"] = new("401", "200", "403", "200", "200", "401"),
        ["GET /console/api/complaints/{id:long}/casework"] = new("401", "200", "403", "200", "200", "401"),
        ["GET /console/api/me"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/media/{id:long}"] = new("401", "200", "403", "200", "200", "401"),
        ["GET /console/api/recordings/{id:long}"] = new("401", "200", "403", "200", "200", "401"),
        ["GET /console/api/callbacks"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/complaints/{id:long}/recordings"] = new("401", "200", "403", "200", "200", "401"),
        // {id} of a callback is the one owed on the restricted case, with a call back already under way (409: never a real call).
        ["POST /console/api/callbacks/{id:long}/call"] = new("401", "409", "403", "409", "409", "401"),
        ["POST /console/api/callbacks/{id:long}/close"] = new("401", "204", "403", "204", "204", "401"),
        ["GET /console/api/provisions"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/staff"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/suppliers"] = new("401", "200", "200", "200", "200", "401"),
        ["GET /console/api/voice-token"] = new("401", "200", "200", "200", "200", "401"),
        ["POST /console/api/complaints/{id:long}/assignment"] = new("401", "204", "403", "204", "204", "401"),
        ["POST /console/api/complaints/{id:long}/confidentiality"] = new("401", "400", "403", "400", "400", "401"),
        ["POST /console/api/complaints/{id:long}/disclosure-decisions"] = new("401", "400", "403", "400", "400", "401"),
        ["POST /console/api/complaints/{id:long}/messages"] = new("401", "409", "403", "409", "409", "401"),
        ["POST /console/api/complaints/{id:long}/notes"] = new("401", "200", "403", "200", "200", "401"),
        ["POST /console/api/complaints/{id:long}/provisions"] = new("401", "204", "403", "204", "204", "401"),
        ["POST /console/api/complaints/{id:long}/restriction"] = new("401", "403", "403", "204", "204", "401"),
        ["POST /console/api/complaints/{id:long}/reveal-number"] = new("401", "200", "403", "200", "200", "401"),
        ["POST /console/api/complaints/{id:long}/severity"] = new("401", "400", "403", "400", "400", "401"),
        ["POST /console/api/complaints/{id:long}/status"] = new("401", "409", "403", "409", "409", "401"),
        ["POST /console/api/complaints/{id:long}/summary"] = new("401", "204", "403", "204", "204", "401"),
        ["POST /console/api/complaints/{id:long}/supplier"] = new("401", "204", "403", "204", "204", "401"),
        // The coordinators' dashboard API.
        ["GET /dashboard/api/clocks/breached"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/clocks/due"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/counts"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/coverage"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/escalations"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/escalations/failed"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/export.csv"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/outside-program"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/queue"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/reconciliation"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/resolution"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/spool"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/stalled"] = new("401", "403", "403", "200", "200", "401"),
        ["GET /dashboard/api/unconfigured-numbers"] = new("401", "403", "403", "200", "200", "401"),
        // The live-events hub.
        ["ANY /hubs/console"] = new("401", "400", "400", "400", "400", "401"),
        ["ANY /hubs/console/negotiate"] = new("401", "200", "200", "200", "200", "401"),
        // The buyer's answer link: its token is the authentication.
        ["GET /buyer/escalations/{id:long}"] = new("404", "404", "404", "404", "404", "200"),
        ["POST /buyer/escalations/{id:long}"] = new("404", "404", "404", "404", "404", "400"),
        // Twilio webhooks: not staff endpoints; unsigned, refused to everyone.
        ["POST /twilio/messaging/incoming"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/messaging/status"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/after-conference"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/callback/staff"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/callback/staff-status"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/callback/worker"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/callback/worker-status"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/conference-status"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/hold-music"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/join-conference"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/staff-left"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/console-bridge"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/emergency/dial-result"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/emergency/recorded"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/emergency/screen"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/emergency/screen-result"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/incoming"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/language"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/leg-status"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/queue-result"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/recorded"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/recording"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/screen"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/screen-result"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/status"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/status/case"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/status/pin"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/step/{step}"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/step/{step}/input"] = new("403", "403", "403", "403", "403", "403"),
        ["POST /twilio/voice/wait"] = new("403", "403", "403", "403", "403", "403"),
    };
}
