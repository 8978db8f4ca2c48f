using System.Buffers.Binary;

namespace WsrHotline.Simulator;

/// <summary>The audio behind a simulated recording: a short beep, then silence, as 8 kHz 16-bit mono WAV.</summary>
internal static class RecordingAudio
{
    private const int SampleRate = 8000;
    private const int MaxSeconds = 600;

    public static byte[] Wav(int seconds)
    {
        var samples = SampleRate * Math.Clamp(seconds, 1, MaxSeconds);
        var wav = new byte[44 + (samples * 2)];
        var span = wav.AsSpan();
        "RIFF"u8.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], 36 + (samples * 2));
        "WAVEfmt "u8.CopyTo(span[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], 16);           // fmt chunk size
        BinaryPrimitives.WriteInt16LittleEndian(span[20..], 1);            // PCM
        BinaryPrimitives.WriteInt16LittleEndian(span[22..], 1);            // mono
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], SampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(span[28..], SampleRate * 2); // byte rate
        BinaryPrimitives.WriteInt16LittleEndian(span[32..], 2);            // block align
        BinaryPrimitives.WriteInt16LittleEndian(span[34..], 16);           // bits per sample
        "data"u8.CopyTo(span[36..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[40..], samples * 2);

        // Half a second of a quiet 440 Hz tone, so a person playing it hears that it exists.
        for (var i = 0; i < SampleRate / 2; i++)
        {
            var sample = (short)(3000 * Math.Sin(2 * Math.PI * 440 * i / SampleRate));
            BinaryPrimitives.WriteInt16LittleEndian(span[(44 + (i * 2))..], sample);
        }

        return wav;
    }
}
