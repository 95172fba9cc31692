// Starts a Neo4j Community database with Bolt on 127.0.0.1, for
// scripts/services/neo4j.sh. Arguments: HOME_DIR BOLT_PORT AUTH(true|false)
// [TLS_DIR]. With TLS_DIR (server.key, PKCS#8, and server.pem), Bolt's
// encryption is optional: plain bolt:// and bolt+s:// on the one port.
// Prints "neo4j launcher: ready" once the default database answers, and
// shuts the database down cleanly on SIGTERM.

import java.nio.file.Path;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.configuration.ssl.ClientAuth;
import org.neo4j.configuration.ssl.SslPolicyConfig;
import org.neo4j.configuration.ssl.SslPolicyScope;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

public final class Neo4jLauncher {
  public static void main(String[] args) throws Exception {
    if (args.length != 3 && args.length != 4) {
      System.err.println("usage: Neo4jLauncher HOME_DIR BOLT_PORT AUTH(true|false) [TLS_DIR]");
      System.exit(2);
    }
    Path home = Path.of(args[0]);
    int port = Integer.parseInt(args[1]);
    boolean auth = Boolean.parseBoolean(args[2]);
    DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home)
        .setConfig(BoltConnector.enabled, true)
        .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
        .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
        .setConfig(HttpConnector.enabled, false)
        .setConfig(GraphDatabaseSettings.auth_enabled, auth)
        .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(512));
    if (args.length == 4) {
      Path tls = Path.of(args[3]);
      SslPolicyConfig bolt = SslPolicyConfig.forScope(SslPolicyScope.BOLT);
      builder
          .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.OPTIONAL)
          .setConfig(bolt.enabled, true)
          .setConfig(bolt.base_directory, tls)
          .setConfig(bolt.private_key, tls.resolve("server.key"))
          .setConfig(bolt.public_certificate, tls.resolve("server.pem"))
          .setConfig(bolt.client_auth, ClientAuth.NONE);
    }
    DatabaseManagementService service = builder.build();
    Runtime.getRuntime().addShutdownHook(new Thread(service::shutdown));
    GraphDatabaseService db = service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
    db.executeTransactionally("RETURN 1");
    System.out.println("neo4j launcher: ready on bolt://127.0.0.1:" + port
        + (args.length == 4 ? " (and bolt+s://)" : ""));
    Thread.currentThread().join();
  }
}
