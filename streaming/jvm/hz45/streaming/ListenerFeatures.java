package hz45.streaming;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.TreeMap;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.streaming.MapState;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.StatefulProcessor;
import org.apache.spark.sql.streaming.TTLConfig;
import org.apache.spark.sql.streaming.TimeMode;
import org.apache.spark.sql.streaming.TimerValues;
import org.apache.spark.sql.streaming.ValueState;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Per-listener online features as one transformWithState operator (see streaming/features.py for
 * the document's fields).
 *
 * <p>Written for the JVM because the state is touched for every listener of every micro-batch: a
 * Python function per listener, or Spark's generic aggregates with bounded buffers, cost a
 * millisecond or more per listener, which does not keep up with thousands of listeners a second.
 *
 * <p>Input: checked records (column {@code ok}) with the event's fields, and a table of tracks
 * with their audio features ({@code track_id} and the columns {@code audioNames}). Output, one schema
 * for three kinds of row: {@code kind = "event"} for each valid event not seen before (its
 * listener, event id, type, timestamp and track), {@code "invalid"} for each record that failed
 * the check (passed through unchanged, for the dead-letter topic), and {@code "features"} once
 * per listener with new events, {@code document} holding the feature update as JSON.
 */
public final class ListenerFeatures {
  static final long HOUR_MS = 3_600_000L;
  /** Grouping key of the records that failed the check: they have no listener. */
  static final long INVALID = -1L;

  private ListenerFeatures() {}

  /** The operator over {@code records}; see the class comment. */
  public static Dataset<Row> apply(Dataset<Row> records, Dataset<Row> tracks, String[] audioNames, int lastN,
                                   int profilePlays, int hourWindows, long dedupeMs, int schemaVersion) {
    StructType in = records.schema();
    StructType out = new StructType()
        .add("kind", DataTypes.StringType, false)
        .add("document", DataTypes.StringType, true);
    for (StructField f : in.fields()) {
      out = out.add(f.name(), f.dataType(), true);
    }
    // Read once and broadcast once: a join with the table would collect it again every micro-batch.
    Broadcast<HashMap<Long, double[]>> audio = JavaSparkContext.fromSparkContext(records.sparkSession().sparkContext())
        .broadcast(audioByTrack(tracks, audioNames));
    Params p = new Params(in, audio, audioNames, lastN, profilePlays, hourWindows, dedupeMs, schemaVersion);
    int ok = in.fieldIndex("ok");
    int listener = p.listenerId;
    return records
        .groupByKey((MapFunction<Row, Long>) r -> r.getBoolean(ok) ? r.getLong(listener) : INVALID, Encoders.LONG())
        .transformWithState(new Processor(p), TimeMode.ProcessingTime(), OutputMode.Update(), Encoders.row(out));
  }

  /** Each track's audio features in the order of {@code names}; a track missing one is left out. */
  static HashMap<Long, double[]> audioByTrack(Dataset<Row> tracks, String[] names) {
    Dataset<Row> table = tracks.select("track_id", names);
    HashMap<Long, double[]> byTrack = new HashMap<>();
    for (Row r : table.collectAsList()) {
      double[] values = new double[names.length];
      boolean complete = !r.isNullAt(0);
      for (int i = 0; complete && i < names.length; i++) {
        values[i] = r.isNullAt(i + 1) ? Double.NaN : ((Number) r.get(i + 1)).doubleValue();
        complete = !Double.isNaN(values[i]);
      }
      if (complete) {
        byTrack.put(((Number) r.get(0)).longValue(), values);
      }
    }
    return byTrack;
  }

  /** Everything the processor needs, resolved once on the driver. */
  static final class Params implements Serializable {
    final int listenerId, eventId, type, timestamp, trackId, sessionId;
    final Broadcast<HashMap<Long, double[]>> audio;
    final String[] audioNames;
    final int inputWidth, lastN, profilePlays, hourWindows, schemaVersion;
    final long dedupeMs;

    Params(StructType in, Broadcast<HashMap<Long, double[]>> audio, String[] audioNames, int lastN, int profilePlays,
           int hourWindows, long dedupeMs, int schemaVersion) {
      inputWidth = in.fields().length;
      listenerId = in.fieldIndex("listener_id");
      eventId = in.fieldIndex("event_id");
      type = in.fieldIndex("type");
      timestamp = in.fieldIndex("timestamp");
      trackId = in.fieldIndex("track_id");
      sessionId = in.fieldIndex("session_id");
      this.audio = audio;
      this.audioNames = audioNames.clone();
      this.lastN = lastN;
      this.profilePlays = profilePlays;
      this.hourWindows = hourWindows;
      this.dedupeMs = dedupeMs;
      this.schemaVersion = schemaVersion;
    }
  }

  static final class Processor extends StatefulProcessor<Long, Row, Row> {
    private final Params p;
    private transient ValueState<byte[]> state;
    private transient MapState<String, Boolean> seen;

    Processor(Params p) {
      this.p = p;
    }

    @Override
    public void init(OutputMode outputMode, TimeMode timeMode) {
      state = getHandle().getValueState("listener", Encoders.BINARY(), TTLConfig.NONE());
      // Event ids expire after the de-duplication window, so this state stays bounded.
      seen = getHandle().getMapState("seen", Encoders.STRING(), Encoders.BOOLEAN(),
          new TTLConfig(Duration.ofMillis(p.dedupeMs)));
    }

    @Override
    public scala.collection.Iterator<Row> handleInputRows(Long key, scala.collection.Iterator<Row> rows,
                                                          TimerValues timerValues) {
      Iterator<Row> input = CollectionConverters.asJava(rows);
      List<Row> out = new ArrayList<>();
      if (key == INVALID) {
        input.forEachRemaining(r -> out.add(passThrough("invalid", r)));
        return CollectionConverters.asScala(out.iterator());
      }
      ListenerState s = state.exists() ? ListenerState.fromBytes(state.get()) : new ListenerState();
      TreeMap<Long, Long> hours = new TreeMap<>();
      for (int i = 0; i < s.hourStarts.length; i++) {
        hours.put(s.hourStarts[i], s.hourPlays[i]);
      }
      boolean changed = false;
      while (input.hasNext()) {
        Row r = input.next();
        String id = r.getString(p.eventId);
        if (seen.containsKey(id)) {
          continue;
        }
        seen.updateValue(id, Boolean.TRUE);
        changed = true;
        add(s, hours, r, id);
        out.add(event(r));
      }
      if (changed) {
        // Hourly windows: the newest event's hour and the hourWindows - 1 before it.
        long newestHour = s.lastTs - Math.floorMod(s.lastTs, HOUR_MS);
        hours.headMap(newestHour - (p.hourWindows - 1) * HOUR_MS).clear();
        s.hourStarts = hours.keySet().stream().mapToLong(Long::longValue).toArray();
        s.hourPlays = hours.values().stream().mapToLong(Long::longValue).toArray();
        state.update(s.toBytes());
        Object[] values = new Object[2 + p.inputWidth];
        values[0] = "features";
        values[1] = document(key, s, timerValues.getCurrentProcessingTimeInMs());
        values[2 + p.listenerId] = key;
        out.add(RowFactory.create(values));
      }
      return CollectionConverters.asScala(out.iterator());
    }

    private void add(ListenerState s, TreeMap<Long, Long> hours, Row r, String id) {
      long ts = r.getLong(p.timestamp);
      String type = r.getString(p.type);
      s.events++;
      switch (type) {
        case "play" -> s.plays++;
        case "skip" -> s.skips++;
        case "like" -> s.likes++;
        case "dislike" -> s.dislikes++;
        default -> throw new IllegalArgumentException("unknown event type " + type);
      }
      if (s.lastId == null || newer(ts, id, s.lastTs, s.lastId)) {
        s.lastTs = ts;
        s.lastId = id;
        s.lastSession = r.getString(p.sessionId);
      }
      if (!type.equals("play")) {
        return;
      }
      hours.merge(ts - Math.floorMod(ts, HOUR_MS), 1L, Long::sum);
      int at = position(s.recentTs, s.recentIds, ts, id, p.lastN);
      if (at >= 0) {
        s.recentTs = insert(s.recentTs, at, ts, p.lastN);
        s.recentIds = insert(s.recentIds, at, id, p.lastN);
        s.recentTracks = insert(s.recentTracks, at, r.getLong(p.trackId), p.lastN);
      }
      double[] audio = p.audio.value().get(r.getLong(p.trackId));
      if (audio == null) {
        return;  // a track without every audio feature stays out of the profile
      }
      at = position(s.profileTs, s.profileIds, ts, id, p.profilePlays);
      if (at >= 0) {
        s.profileTs = insert(s.profileTs, at, ts, p.profilePlays);
        s.profileIds = insert(s.profileIds, at, id, p.profilePlays);
        s.profileAudio = insertBlock(s.profileAudio, at, audio, p.profilePlays);
      }
    }

    private String document(long listener, ListenerState s, long now) {
      StringBuilder b = new StringBuilder(512);
      b.append("{\"schema_version\":").append(p.schemaVersion)
          .append(",\"listener_id\":").append(listener)
          .append(",\"updated_at\":").append(now)
          .append(",\"last_event_time\":").append(s.lastTs)
          .append(",\"last_event_id\":");
      quote(b, s.lastId);
      b.append(",\"session_id\":");
      quote(b, s.lastSession);
      b.append(",\"events\":").append(s.events)
          .append(",\"plays\":").append(s.plays)
          .append(",\"skips\":").append(s.skips)
          .append(",\"likes\":").append(s.likes)
          .append(",\"dislikes\":").append(s.dislikes)
          .append(",\"skip_rate\":");
      long playsOrSkips = s.plays + s.skips;
      b.append(playsOrSkips > 0 ? Double.toString((double) s.skips / playsOrSkips) : "null");
      b.append(",\"recent_tracks\":[");
      for (int i = 0; i < s.recentTracks.length; i++) {
        b.append(i > 0 ? "," : "").append(s.recentTracks[i]);
      }
      b.append("],\"plays_per_hour\":[");
      for (int i = 0; i < s.hourStarts.length; i++) {
        b.append(i > 0 ? "," : "").append("{\"hour_start\":").append(s.hourStarts[i])
            .append(",\"plays\":").append(s.hourPlays[i]).append('}');
      }
      b.append("],\"audio_profile\":");
      int n = s.profileTs.length;
      int width = p.audioNames.length;
      if (n == 0) {
        b.append("null");
      } else {
        b.append('{');
        for (int f = 0; f < width; f++) {
          double sum = 0;
          for (int i = 0; i < n; i++) {
            sum += s.profileAudio[i * width + f];
          }
          b.append(f > 0 ? "," : "");
          quote(b, p.audioNames[f]);
          b.append(':').append(sum / n);
        }
        b.append('}');
      }
      b.append(",\"profile_plays\":").append(n).append('}');
      return b.toString();
    }

    /** A new event as output: only the columns the sinks read (the live charts), the rest null. */
    private Row event(Row input) {
      Object[] values = new Object[2 + p.inputWidth];
      values[0] = "event";
      for (int i : new int[] {p.listenerId, p.eventId, p.type, p.timestamp, p.trackId}) {
        values[2 + i] = input.get(i);
      }
      return RowFactory.create(values);
    }

    /** An input row as output: its kind, no document, then the input's columns. */
    private Row passThrough(String kind, Row input) {
      Object[] values = new Object[2 + p.inputWidth];
      values[0] = kind;
      for (int i = 0; i < p.inputWidth; i++) {
        values[2 + i] = input.get(i);
      }
      return RowFactory.create(values);
    }
  }

  /** Where (ts, id) goes in a newest-first list kept to `limit` entries, or -1 if not in it. */
  static int position(long[] ts, String[] ids, long t, String id, int limit) {
    int at = 0;
    while (at < ts.length && !newer(t, id, ts[at], ids[at])) {
      at++;
    }
    return at < limit ? at : -1;
  }

  static long[] insert(long[] a, int at, long v, int limit) {
    long[] out = new long[Math.min(a.length + 1, limit)];
    System.arraycopy(a, 0, out, 0, at);
    out[at] = v;
    System.arraycopy(a, at, out, at + 1, out.length - at - 1);
    return out;
  }

  static String[] insert(String[] a, int at, String v, int limit) {
    String[] out = new String[Math.min(a.length + 1, limit)];
    System.arraycopy(a, 0, out, 0, at);
    out[at] = v;
    System.arraycopy(a, at, out, at + 1, out.length - at - 1);
    return out;
  }

  /** `block` inserted as the at-th of equal-width blocks, keeping `limit` blocks. */
  static double[] insertBlock(double[] a, int at, double[] block, int limit) {
    int w = block.length;
    double[] out = new double[Math.min(a.length / w + 1, limit) * w];
    System.arraycopy(a, 0, out, 0, at * w);
    System.arraycopy(block, 0, out, at * w, w);
    System.arraycopy(a, at * w, out, (at + 1) * w, out.length - (at + 1) * w);
    return out;
  }

  /** What the state store keeps per listener. The three newest-first lists hold (timestamp,
   * event id) beside their values so that events arriving out of order still land where they
   * belong. Stored as bytes of its own format: Spark's bean encoder cost a seventh of the job's
   * JVM time converting these arrays to and from its rows on every micro-batch. */
  static final class ListenerState {
    /** First byte of the stored form; a different layout gets a different number. */
    static final byte FORMAT = 1;
    long events, plays, skips, likes, dislikes, lastTs;
    String lastId, lastSession;
    long[] recentTs = {}, recentTracks = {}, profileTs = {}, hourStarts = {}, hourPlays = {};
    String[] recentIds = {}, profileIds = {};
    double[] profileAudio = {};

    byte[] toBytes() {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(1024);
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        out.writeByte(FORMAT);
        for (long v : new long[] {events, plays, skips, likes, dislikes, lastTs}) {
          out.writeLong(v);
        }
        out.writeBoolean(lastId != null);
        if (lastId != null) {
          out.writeUTF(lastId);
          out.writeUTF(lastSession);
        }
        for (long[] a : new long[][] {recentTs, recentTracks, profileTs, hourStarts, hourPlays}) {
          out.writeInt(a.length);
          for (long v : a) {
            out.writeLong(v);
          }
        }
        for (String[] a : new String[][] {recentIds, profileIds}) {
          out.writeInt(a.length);
          for (String v : a) {
            out.writeUTF(v);
          }
        }
        out.writeInt(profileAudio.length);
        for (double v : profileAudio) {
          out.writeDouble(v);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);  // a byte array stream does not fail
      }
      return bytes.toByteArray();
    }

    static ListenerState fromBytes(byte[] stored) {
      ListenerState s = new ListenerState();
      try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(stored))) {
        byte format = in.readByte();
        if (format != FORMAT) {
          throw new IllegalStateException("listener state of format " + format + ", this operator reads "
              + FORMAT + ": start from a new checkpoint (streaming.checkpoint_dir)");
        }
        s.events = in.readLong();
        s.plays = in.readLong();
        s.skips = in.readLong();
        s.likes = in.readLong();
        s.dislikes = in.readLong();
        s.lastTs = in.readLong();
        if (in.readBoolean()) {
          s.lastId = in.readUTF();
          s.lastSession = in.readUTF();
        }
        s.recentTs = readLongs(in);
        s.recentTracks = readLongs(in);
        s.profileTs = readLongs(in);
        s.hourStarts = readLongs(in);
        s.hourPlays = readLongs(in);
        s.recentIds = readStrings(in);
        s.profileIds = readStrings(in);
        s.profileAudio = new double[in.readInt()];
        for (int i = 0; i < s.profileAudio.length; i++) {
          s.profileAudio[i] = in.readDouble();
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return s;
    }

    private static long[] readLongs(DataInputStream in) throws IOException {
      long[] a = new long[in.readInt()];
      for (int i = 0; i < a.length; i++) {
        a[i] = in.readLong();
      }
      return a;
    }

    private static String[] readStrings(DataInputStream in) throws IOException {
      String[] a = new String[in.readInt()];
      for (int i = 0; i < a.length; i++) {
        a[i] = in.readUTF();
      }
      return a;
    }
  }

  /** (timestamp, event id) ordering: newer means a later timestamp, ties broken by event id. */
  static boolean newer(long ts, String id, long otherTs, String otherId) {
    return ts > otherTs || (ts == otherTs && id.compareTo(otherId) > 0);
  }

  static void quote(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') {
        b.append('\\').append(c);
      } else if (c < 0x20) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    b.append('"');
  }
}
