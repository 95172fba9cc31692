// Starts a Neo4j Community database with Bolt on 127.0.0.1, for
// scripts/services/neo4j.sh. Arguments: HOME_DIR BOLT_PORT AUTH(true|false).
// Prints "neo4j launcher: ready" once the default database answers, and
// shuts the database down cleanly on SIGTERM.

import java.nio.file.Path;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

public final class Neo4jLauncher {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: Neo4jLauncher HOME_DIR BOLT_PORT AUTH(true|false)");
      System.exit(2);
    }
    Path home = Path.of(args[0]);
    int port = Integer.parseInt(args[1]);
    boolean auth = Boolean.parseBoolean(args[2]);
    DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
        .setConfig(BoltConnector.enabled, true)
        .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
        .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
        .setConfig(HttpConnector.enabled, false)
        .setConfig(GraphDatabaseSettings.auth_enabled, auth)
        .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(512))
        .build();
    Runtime.getRuntime().addShutdownHook(new Thread(service::shutdown));
    GraphDatabaseService db = service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
    db.executeTransactionally("RETURN 1");
    System.out.println("neo4j launcher: ready on bolt://127.0.0.1:" + port);
    Thread.currentThread().join();
  }
}
