using Hangfire;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Types;
using CreateParticipantOptions = Twilio.Rest.Api.V2010.Account.Conference.CreateParticipantOptions;
using DeleteParticipantOptions = Twilio.Rest.Api.V2010.Account.Conference.DeleteParticipantOptions;
using ConferenceResource = Twilio.Rest.Api.V2010.Account.ConferenceResource;
using ParticipantResource = Twilio.Rest.Api.V2010.Account.Conference.ParticipantResource;
using UpdateConferenceOptions = Twilio.Rest.Api.V2010.Account.UpdateConferenceOptions;
using UpdateParticipantOptions = Twilio.Rest.Api.V2010.Account.Conference.UpdateParticipantOptions;

namespace WsrHotline.Voice;

/// <summary>
/// The call controls, as Twilio's Conference and Participants REST API carries them out (Twilio's own
/// library). They act on the conference's legs, so they work the same for an investigator in the
/// browser and one who answered on their phone. What they changed comes back through the
/// conference status callbacks, which keep <c>call_participants</c>.
/// </summary>
public sealed class CallControls(ITwilioRestClient twilioRest, IBackgroundJobClient jobs)
{
    /// <summary>Holds the participant (they hear <paramref name="holdUrl"/>) or brings them back.</summary>
    public Task HoldAsync(string conferenceSid, string callSid, bool hold, Uri holdUrl, CancellationToken cancellationToken) =>
        WithCancellation(ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, callSid)
        {
            Hold = hold,
            HoldUrl = hold ? holdUrl : null,
            HoldMethod = hold ? global::Twilio.Http.HttpMethod.Post : null,
        }, twilioRest), cancellationToken);

    public Task MuteAsync(string conferenceSid, string callSid, bool muted, CancellationToken cancellationToken) =>
        WithCancellation(ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, callSid) { Muted = muted }, twilioRest), cancellationToken);

    /// <summary>
    /// Dials someone into the conference (Twilio calls <paramref name="to"/>, a number or
    /// <c>client:…</c>, and puts them in when they answer): a colleague, an interpreter, a coordinator.
    /// </summary>
    public async Task<string> AddAsync(string conferenceSid, string to, string from, string label, Uri statusCallback,
        bool muted = false, string? callSidToCoach = null, CancellationToken cancellationToken = default)
    {
        IEndpoint endpoint = to.StartsWith("client:", StringComparison.Ordinal) ? new Client(to["client:".Length..]) : new PhoneNumber(to);
        var added = await ParticipantResource.CreateAsync(new CreateParticipantOptions(conferenceSid, new PhoneNumber(from), endpoint)
        {
            Label = label,
            Muted = muted,
            Coaching = callSidToCoach is not null ? true : null,
            CallSidToCoach = callSidToCoach,
            EndConferenceOnExit = false,
            Timeout = 30,
            ConferenceStatusCallback = statusCallback,
            ConferenceStatusCallbackEvent = ["start", "end", "join", "leave", "mute", "hold", "modify"],
        }, twilioRest).WaitAsync(cancellationToken);
        return added.CallSid;
    }

    /// <summary>A coordinator already in the call changes how: listening (muted), coaching one investigator, or in the call.</summary>
    public Task MonitorAsync(string conferenceSid, string callSid, bool muted, string? callSidToCoach, CancellationToken cancellationToken) =>
        WithCancellation(ParticipantResource.UpdateAsync(new UpdateParticipantOptions(conferenceSid, callSid)
        {
            Muted = muted,
            Coaching = callSidToCoach is not null,
            CallSidToCoach = callSidToCoach,
        }, twilioRest), cancellationToken);

    /// <summary>Takes a participant out of the conference (the first investigator, once the colleague of a warm transfer is in).</summary>
    public async Task RemoveAsync(string conferenceSid, string callSid, CancellationToken cancellationToken) =>
        await ParticipantResource.DeleteAsync(new DeleteParticipantOptions(conferenceSid, callSid), twilioRest).WaitAsync(cancellationToken);

    /// <summary>Ends the conference: everyone leaves it; the worker's Dial action then reads out their case number and PIN.</summary>
    public Task EndConferenceAsync(string conferenceSid, CancellationToken cancellationToken) =>
        WithCancellation(ConferenceResource.UpdateAsync(new UpdateConferenceOptions(conferenceSid)
        {
            Status = ConferenceResource.UpdateStatusEnum.Completed,
        }, twilioRest), cancellationToken);

    /// <summary>
    /// Ends a conference from a status callback. Twilio does not retry a status callback, so when it
    /// fails this call a Hangfire job tries again (<see cref="EndConferenceJobAsync"/>): a worker is
    /// not left alone in it. True when it ended now.
    /// </summary>
    public async Task<bool> EndConferenceOrRetryAsync(string conferenceSid, CancellationToken cancellationToken)
    {
        try
        {
            await EndConferenceAsync(conferenceSid, cancellationToken);
            return true;
        }
        catch (TwilioException) when (!cancellationToken.IsCancellationRequested)
        {
            jobs.Enqueue<CallControls>(controls => controls.EndConferenceJobAsync(conferenceSid, CancellationToken.None));
            return false;
        }
    }

    /// <summary>Takes a participant out from a status callback; when Twilio fails it, a Hangfire job tries again. True when done now.</summary>
    public async Task<bool> RemoveOrRetryAsync(string conferenceSid, string callSid, CancellationToken cancellationToken)
    {
        try
        {
            await RemoveAsync(conferenceSid, callSid, cancellationToken);
            return true;
        }
        catch (TwilioException) when (!cancellationToken.IsCancellationRequested)
        {
            jobs.Enqueue<CallControls>(controls => controls.RemoveJobAsync(conferenceSid, callSid, CancellationToken.None));
            return false;
        }
    }

    /// <summary>The job of <see cref="EndConferenceOrRetryAsync"/>: a conference Twilio no longer has is over already.</summary>
    [AutomaticRetry(Attempts = 5)]
    public async Task EndConferenceJobAsync(string conferenceSid, CancellationToken cancellationToken)
    {
        try
        {
            await EndConferenceAsync(conferenceSid, cancellationToken);
        }
        catch (global::Twilio.Exceptions.ApiException ex) when (ex.Status == 404)
        {
        }
    }

    /// <summary>The job of <see cref="RemoveOrRetryAsync"/>: a participant Twilio no longer has has left already.</summary>
    [AutomaticRetry(Attempts = 5)]
    public async Task RemoveJobAsync(string conferenceSid, string callSid, CancellationToken cancellationToken)
    {
        try
        {
            await RemoveAsync(conferenceSid, callSid, cancellationToken);
        }
        catch (global::Twilio.Exceptions.ApiException ex) when (ex.Status == 404)
        {
        }
    }

    // Twilio's library takes no cancellation token; the request's own timeout (Twilio:RequestTimeout) bounds it.
    private static async Task WithCancellation<T>(Task<T> call, CancellationToken cancellationToken) =>
        await call.WaitAsync(cancellationToken);
}
