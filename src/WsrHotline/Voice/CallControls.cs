using Twilio.Clients;
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
public sealed class CallControls(ITwilioRestClient twilioRest)
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

    /// <summary>Ends the conference: everyone leaves it; the worker's Dial action then reads out their case number and PIN.</summary>
    public Task EndConferenceAsync(string conferenceSid, CancellationToken cancellationToken) =>
        WithCancellation(ConferenceResource.UpdateAsync(new UpdateConferenceOptions(conferenceSid)
        {
            Status = ConferenceResource.UpdateStatusEnum.Completed,
        }, twilioRest), cancellationToken);

    // Twilio's library takes no cancellation token; the request's own timeout (Twilio:RequestTimeout) bounds it.
    private static async Task WithCancellation<T>(Task<T> call, CancellationToken cancellationToken) =>
        await call.WaitAsync(cancellationToken);
}
