namespace WsrHotline.Twilio;

/// <summary>A media file is longer than the caller's limit; it was not read past the limit.</summary>
public sealed class MediaTooLargeException : Exception
{
    public MediaTooLargeException()
    {
    }

    public MediaTooLargeException(string message)
        : base(message)
    {
    }

    public MediaTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public MediaTooLargeException(long limitBytes)
        : base($"The media file is larger than the limit of {limitBytes} bytes.")
    {
        LimitBytes = limitBytes;
    }

    public long LimitBytes { get; }
}
